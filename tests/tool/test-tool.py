#!/usr/bin/python3
# test-tool.py — drives the `mitogen` command-line tool as a user would:
# a spawned process, its real stdout, stderr and exit status.
#
#   test-tool.py PATH-TO-MITOGEN
#
# (or MITOGEN_TOOL=PATH in the environment). Plain asserts, no unittest;
# every check runs, failures are listed at the end, exit status 1 if any.
#
# SPDX-License-Identifier: BSD-3-Clause

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

TOOL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MITOGEN_TOOL", "")
TOOL = os.path.abspath(TOOL) if TOOL else TOOL
if not TOOL:
    sys.exit("usage: test-tool.py PATH-TO-MITOGEN (or set MITOGEN_TOOL)")

# The documented exit statuses.
OK, CALL, USAGE, CONNECT, CHANNEL = 0, 1, 2, 3, 4

ENV = dict(os.environ)
ENV.pop("G_MESSAGES_DEBUG", None)  # stderr must carry only our one line


def run(*args, timeout=60):
    p = subprocess.run([TOOL, *args], capture_output=True, env=ENV, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def call_json(*args):
    rc, out, err = run(*args)
    assert rc == OK, f"{args}: exit {rc}, stderr {err!r}"
    assert err == "", f"{args}: unexpected stderr {err!r}"
    return json.loads(out)


def expect_error(args, status, *fragments):
    rc, out, err = run(*args)
    assert rc == status, f"{args}: exit {rc}, wanted {status}; stderr {err!r}"
    assert out == "", f"{args}: stdout should be empty, got {out!r}"
    assert err.endswith("\n") and err.count("\n") == 1, f"{args}: not exactly one stderr line: {err!r}"
    assert err.startswith("mitogen: "), f"{args}: stderr not 'mitogen: ...': {err!r}"
    for fragment in fragments:
        assert fragment in err, f"{args}: {fragment!r} not in {err!r}"
    return err


TESTS = []


def test(func):
    TESTS.append(func)
    return func


# --- call: results ---------------------------------------------------------

@test
def call_uname():
    result = call_json("call", "-t", "local", "os.uname")
    assert result == list(os.uname()), result


@test
def call_echo():
    assert call_json("call", "-t", "local", "mitogen.echo", '[1, "a", true]') == [1, "a", True]
    # Exactly one argument comes back as itself.
    assert call_json("call", "-t", "local", "mitogen.echo", '["x"]') == "x"
    assert call_json("call", "-t", "local", "mitogen.echo", "[]") == []
    nested = [[1, 2.5], ["a", "b"], {"k": [1, "x"], "n": None}, [[1], [2, 3]], []]
    assert call_json("call", "-t", "local", "mitogen.echo", json.dumps([nested])) == nested
    # What JSON cannot write, or JSON-GLib 1.6 would write as "1e+17.0"
    # (found by tests/fuzz/fuzz-json), prints as GVariant text.
    assert call_json("call", "-t", "local", "mitogen.echo", '[[1e999, 1e17, 0.5]]') == \
        [{"gvariant": "inf"}, {"gvariant": "1e+17"}, 0.5]


@test
def call_listdir():
    result = call_json("call", "-t", "local", "os.listdir", '["/"]')
    assert isinstance(result, list) and all(isinstance(n, str) for n in result), result
    assert "etc" in result, result
    with tempfile.TemporaryDirectory() as d:
        for name in ("b.txt", "a", "\u00e9t\u00e9"):
            open(os.path.join(d, name), "w").close()
        assert call_json("call", "-t", "local", "os.listdir", json.dumps([d])) == ["a", "b.txt", "\u00e9t\u00e9"]


@test
def call_bytes():
    assert call_json("call", "-t", "local", "mitogen.bytes", "[5, 65]") == "ABCDE"
    # Not UTF-8 (NULs, 0xff): base64.
    assert call_json("call", "-t", "local", "mitogen.bytes", "[3, 0]") == {"base64": "AAAA"}
    assert call_json("call", "-t", "local", "mitogen.bytes", "[2, 255]") == \
        {"base64": base64.b64encode(b"\xff\x00").decode()}
    assert call_json("call", "-t", "local", "mitogen.bytes", "[0, 1]") == ""
    # Integers may be given as decimal strings.
    assert call_json("call", "-t", "local", "mitogen.bytes", '["3", "97"]') == "abc"


@test
def call_variant():
    rc, out, err = run("call", "-t", "local", "--variant", "mitogen.echo", '[1, "a"]')
    assert (rc, out, err) == (OK, "(int64 1, 'a')\n", ""), (rc, out, err)
    rc, out, err = run("call", "--variant", "-t", "local", "os.uname")
    assert rc == OK and err == "", (rc, err)
    assert out.startswith("(") and repr(os.uname().sysname) in out, out
    rc, out, err = run("call", "-t", "local", "--variant", "mitogen.noop")
    assert (rc, out) == (OK, "()\n"), (rc, out, err)


@test
def call_files_and_subprocess():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        # ay arguments: a string, {"base64": ...} or an array of integers.
        assert call_json("call", "-t", "local", "file.write", json.dumps([path, "h\u00e9"])) == 3
        assert call_json("call", "-t", "local", "file.read", json.dumps([path])) == "h\u00e9"
        assert call_json("call", "-t", "local", "file.write", json.dumps([path, {"base64": "AAEC"}])) == 3
        assert open(path, "rb").read() == b"\x00\x01\x02"
        assert call_json("call", "-t", "local", "file.read", json.dumps([path])) == {"base64": "AAEC"}
        assert call_json("call", "-t", "local", "file.write", json.dumps([path, [104, 105]])) == 2
        assert open(path, "rb").read() == b"hi"

    result = call_json("call", "-t", "local", "subprocess.run",
                       '[["sh", "-c", "echo out; echo err >&2; exit 3"], {}]')
    assert result == {"returncode": 3, "stdout": "out\n", "stderr": "err\n"}, result
    # {"gvariant": TEXT} gives an exact type where inference cannot (env is a{ss}).
    result = call_json("call", "-t", "local", "subprocess.run",
                       json.dumps([["sh", "-c", "echo $FOO"], {"env": {"gvariant": "{'FOO': 'bar'}"}}]))
    assert result["stdout"] == "bar\n", result


@test
def call_chain_options():
    # Options converted to their types; the name shows in errors.
    err = expect_error(("call", "-t", "local?remote_name=web&debug=false&connect_timeout=10&profiling",
                        "mitogen.fail", '["boom"]'), CALL, "'web'", "boom")
    expect_error(("call", "-t", "local?remote-name=w%2Fb", "mitogen.fail", '["x"]'), CALL, "'w/b'")
    assert call_json("call", "-t", "local?max_message_size=65536&debug=no", "os.getpid") > 0


@test
def call_debug():
    rc, out, err = run("-v", "call", "-t", "local", "os.getpid")
    assert rc == OK, (rc, err)
    assert isinstance(json.loads(out), int), out  # logs never reach stdout
    assert "DEBUG" in err, err
    assert "[local." in err, f"the context's forwarded logs are missing: {err!r}"
    rc, out, err = run("call", "--debug", "-t", "local", "os.getpid")
    assert rc == OK and isinstance(json.loads(out), int) and "DEBUG" in err, (rc, out, err)


# --- functions, methods, help ------------------------------------------------

@test
def functions_list():
    rc, out, err = run("functions")
    assert rc == OK and err == "", (rc, err)
    rows = {line.split()[0]: line.split(None, 3) for line in out.splitlines()[1:]}
    for name, args, ret in (("os.uname", "()", "(sssss)"), ("os.listdir", "(s)", "as"),
                            ("mitogen.bytes", "(ty)", "ay"), ("mitogen.echo", "r", "*")):
        assert rows[name][1:3] == [args, ret], rows.get(name)
    assert len(rows["os.uname"]) == 4, rows["os.uname"]

    entries = {f["name"]: f for f in call_json("functions", "--json")}
    assert set(entries) == set(rows), (set(entries), set(rows))
    assert entries["os.listdir"]["args"] == "(s)" and entries["os.listdir"]["returns"] == "as"
    assert entries["os.listdir"]["description"], entries["os.listdir"]


@test
def methods_list():
    rc, out, err = run("methods")
    assert rc == OK and "local" in out.split(), (rc, out, err)
    assert "local" in call_json("methods", "--json")

    rc, out, err = run("methods", "--describe")
    assert rc == OK and err == "", (rc, err)
    for option in ("remote_name", "connect_timeout", "debug", "agent_path"):
        assert f"  {option} " in out, f"{option} missing from:\n{out}"
    assert "Seconds a connection attempt may take" in out, out

    methods = {m["name"]: m for m in call_json("methods", "--describe", "--json")}
    options = {o["name"]: o for o in methods["local"]["options"]}
    assert options["connect_timeout"]["default"] == 30 and options["connect_timeout"]["gtype"] == "gdouble"
    assert options["debug"]["default"] is False and options["remote_name"]["default"] is None
    assert options["remote_name"]["description"], options["remote_name"]


@test
def short_form():
    # Each class declares what METHOD:VALUE sets; the tool reads it.
    methods = {m["name"]: m for m in call_json("methods", "--describe", "--json")}
    declared = {name: m["short_option"] for name, m in methods.items()}
    assert declared["ssh"] == "hostname" and declared["sudo"] == "username", declared
    assert declared["docker"] == "container" and declared["local"] == "remote_name", declared
    assert declared["fakessh"] is None, declared
    assert declared["su"] == declared["doas"] == declared["pkexec"] == "username", declared
    assert declared["setns"] == "target" and declared["podman"] == "container", declared
    rc, out, err = run("methods", "--describe")
    assert rc == OK and "ssh  (ssh:VALUE sets hostname)" in out.splitlines(), out
    # local:NAME names the context: its argv[0] is mitogen:NAME.
    got = call_json("call", "-t", "local:somewhere", "file.read", '["/proc/self/cmdline"]')
    assert base64.b64decode(got["base64"]).split(b"\0")[0] == b"mitogen:somewhere", got
    got = call_json("call", "-t", "local/local:inner", "file.read", '["/proc/self/cmdline"]')
    assert base64.b64decode(got["base64"]).split(b"\0")[0] == b"mitogen:inner", got


@test
def help_and_version():
    for args in (("--help",), ("help",), ("call", "--help"), ("functions", "--help"),
                 ("methods", "--help"), ("help", "call"), ("run", "--help"), ("cp", "--help"),
                 ("help", "run")):
        rc, out, err = run(*args)
        assert rc == OK and err == "", (args, rc, err)
        assert "Usage" in out, (args, out)
    rc, out, _ = run("call", "--help")
    assert "Exit status" in out and "CHAIN" in out, out
    rc, out, _ = run("--help")
    for command in ("call -t", "run -t", "cp [-r]", "--ask-pass", "--password-file", "--json"):
        assert command in out, f"{command!r} missing from mitogen --help"
    rc, out, _ = run("run", "--help")
    for option in ("--no-stdin", "--cwd", "--target", "--json", "--ask-pass", "--parallel", "128+N"):
        assert option in out, f"{option!r} missing from mitogen run --help"
    rc, out, _ = run("cp", "--help")
    for option in ("--recursive", "CHAIN:PATH", "SHA-256", "progress", "--json"):
        assert option in out, f"{option!r} missing from mitogen cp --help"
    rc, out, _ = run("--version")
    assert rc == OK and out.startswith("mitogen "), out


# --- errors: one line on stderr, the documented status -----------------------

@test
def usage_errors():
    expect_error((), USAGE, "No command")
    expect_error(("frobnicate",), USAGE, "frobnicate")
    expect_error(("--bogus",), USAGE, "--bogus")
    expect_error(("call", "os.uname"), USAGE, "-t CHAIN")
    expect_error(("call", "-t", "local"), USAGE, "FUNCTION")
    expect_error(("call", "--bogus", "-t", "local", "os.uname"), USAGE, "--bogus")
    expect_error(("call", "-t", "local", "os.uname", "[]", "extra"), USAGE, "extra")
    expect_error(("functions", "extra"), USAGE)
    expect_error(("methods", "--bogus"), USAGE)


@test
def bad_json():
    expect_error(("call", "-t", "local", "mitogen.echo", "[1,"), USAGE, "JSON")
    expect_error(("call", "-t", "local", "mitogen.echo", ""), USAGE, "JSON")
    expect_error(("call", "-t", "local", "mitogen.echo", '{"a": 1}'), USAGE, "array")
    expect_error(("call", "-t", "local", "mitogen.echo", '[{"gvariant": "nope("}]'), USAGE, "GVariant")


@test
def wrong_argument_types():
    # Checked against the registered type before connecting: status 2.
    expect_error(("call", "-t", "local", "os.listdir", "[42]"), USAGE, "os.listdir", "argument 1")
    expect_error(("call", "-t", "local", "os.listdir"), USAGE, "os.listdir", "1 argument")
    expect_error(("call", "-t", "local", "os.uname", "[1]"), USAGE, "os.uname")
    expect_error(("call", "-t", "local", "mitogen.bytes", "[-1, 0]"), USAGE, "out of range")
    expect_error(("call", "-t", "local", "mitogen.bytes", "[1, 256]"), USAGE, "argument 2")
    expect_error(("call", "-t", "local", "mitogen.sleep", '["soon"]'), USAGE, "number")
    # ... even when the method is unknown: arguments are checked first.
    expect_error(("call", "-t", "nosuch", "os.listdir", "[42]"), USAGE)


@test
def remote_failures():
    expect_error(("call", "-t", "local", "no.such.function"), CALL, "no.such.function")
    expect_error(("call", "-t", "local", "no.such.function", '[1, "x"]'), CALL, "no.such.function")
    expect_error(("call", "-t", "local", "mitogen.fail", '["boom"]'), CALL, "boom")
    expect_error(("call", "-t", "local", "os.listdir", '["/nonexistent-mitogen-test"]'), CALL,
                 "/nonexistent-mitogen-test")


@test
def connection_failures():
    expect_error(("call", "-t", "nosuch", "os.uname"), CONNECT, "nosuch", "local")
    expect_error(("call", "-t", "local?nosuch=1", "os.uname"), CONNECT, "nosuch", "remote_name")
    expect_error(("call", "-t", "local?debug=maybe", "os.uname"), CONNECT, "debug", "maybe")
    expect_error(("call", "-t", "local?connect_timeout=soon", "os.uname"), CONNECT, "connect_timeout")
    expect_error(("call", "-t", "local?connect_timeout=-5", "os.uname"), CONNECT, "connect_timeout")
    expect_error(("call", "-t", "local?remote_name", "os.uname"), CONNECT, "remote_name")
    expect_error(("call", "-t", "fakessh:somewhere", "os.uname"), CONNECT, "MAIN", "fakessh?OPTION")
    expect_error(("call", "-t", "local?agent_path=%2Fnonexistent%2Fagent", "os.uname"), CONNECT,
                 "/nonexistent/agent")


@test
def chain_syntax_errors():
    expect_error(("call", "-t", "", "os.uname"), USAGE, "CHAIN")
    expect_error(("call", "-t", "local/", "os.uname"), USAGE, "hop 2")
    expect_error(("call", "-t", "local//local", "os.uname"), USAGE, "hop 2")
    expect_error(("call", "-t", "?debug=true", "os.uname"), USAGE, "METHOD")
    expect_error(("call", "-t", "local:", "os.uname"), USAGE, "MAIN")
    expect_error(("call", "-t", "local?=1", "os.uname"), USAGE, "name")
    expect_error(("call", "-t", "local?agent_path=%zz", "os.uname"), USAGE, "%zz")


@test
def multi_hop():
    # Each hop is started through the one before it (via).
    ident = call_json("call", "-t", "local/local/local", "mitogen.identity")
    assert len(ident["parent_ids"]) == 3, ident
    expect_error(("call", "-t", "local/nosuch", "os.uname"), CONNECT, "hop 2", "nosuch")


@test
def become_chains():
    # su and setns hops in chains, from root (su asks root nothing; setns
    # needs CAP_SYS_ADMIN). The password cases are tests/test-become.c's.
    rc, out, err = run("methods", "--describe")
    for line in ("su  (su:VALUE sets username)", "doas  (doas:VALUE sets username)",
                 "pkexec  (pkexec:VALUE sets username)", "setns  (setns:VALUE sets target)",
                 "podman  (podman:VALUE sets container)"):
        assert line in out.splitlines(), (line, out)
    if os.getuid() != 0:
        print("  (become chains need root: only the listing was checked)")
        return
    ident = call_json("call", "-t", "local:a/su:root", "mitogen.identity")
    assert len(ident["parent_ids"]) == 2, ident
    assert call_json("call", "-t", "su:root?shell=%2Fbin%2Fsh", "os.getuid") == 0
    expect_error(("call", "-t", "local/su:-x", "os.uname"), CONNECT, "hop 2", "invalid username")
    netns = f"mitogen-tool-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        theirs = os.stat(f"/run/netns/{netns}").st_ino
        got = call_json("call", "-t", f"local/setns:{netns}", "os.stat", '["/proc/self/ns/net"]')
        assert got["st_ino"] == theirs != mine, (got, theirs, mine)
        expect_error(("call", "-t", "setns:mitogen-no-such-netns", "os.uname"), CONNECT, "nsenter")
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=True)


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return found


@test
def channel_lost():
    proc = subprocess.Popen([TOOL, "call", "-t", "local?remote_name=victim", "mitogen.sleep", "[60]"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        deadline = time.monotonic() + 20
        agent = None
        while agent is None and time.monotonic() < deadline and proc.poll() is None:
            for child in children_of(proc.pid):
                try:
                    cmdline = open(f"/proc/{child}/cmdline", "rb").read()
                except OSError:
                    continue
                if cmdline.startswith(b"mitogen:victim"):
                    agent = child
            time.sleep(0.05)
        assert agent is not None, "the agent never showed up"
        time.sleep(0.3)  # let the call reach the agent
        os.kill(agent, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    assert proc.returncode == CHANNEL, (proc.returncode, err)
    assert out == b"", out
    assert err.count("\n") == 1 and err.startswith("mitogen: ") and "victim" in err, err


def main():
    failures = []
    for func in TESTS:
        start = time.monotonic()
        try:
            func()
        except Exception:
            failures.append(func.__name__)
            print(f"FAIL {func.__name__}", flush=True)
            traceback.print_exc()
        else:
            print(f"ok   {func.__name__} ({time.monotonic() - start:.2f} s)", flush=True)
    if failures:
        print(f"{len(failures)} of {len(TESTS)} failed: {', '.join(failures)}")
        return 1
    print(f"all {len(TESTS)} passed")
    return 0


# --- JSON numbers (registered like the tests above) ------------------------

@test
def json_numbers_and_seconds():
    # "seconds" is the target's wall time rounded to milliseconds, printed
    # with at most three decimals (0.133, not 0.13300000000000001); every
    # double prints as the shortest text that reads back as itself (what
    # Python's repr() prints for these).
    import re
    rc, out, err = run("call", "--json", "-t", "local", "-t", "local", "mitogen.sleep", "[0.01]")
    assert rc == OK, (rc, err)
    lines = out.splitlines()
    assert len(lines) == 2, out
    for line in lines:
        found = re.findall(r'"seconds":([0-9.eE+-]+)[,}]', line)
        assert len(found) == 1 and re.fullmatch(r"[0-9]+(\.[0-9]{1,3})?", found[0]), line
        assert 0.01 <= json.loads(line)["seconds"] < 60, line
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "src"), "wb") as f:
            f.write(b"x" * 1000)
        rc, out, err = run("cp", "--json", "-t", "local", os.path.join(d, "src"), ":" + os.path.join(d, "dst"))
        assert rc == OK, (rc, err)
        found = re.findall(r'"seconds":([0-9.eE+-]+)[,}]', out)
        assert len(found) == 1 and re.fullmatch(r"[0-9]+(\.[0-9]{1,3})?", found[0]), out
    values = [0.1, 2.5, 2.0, 0.30000000000000004, 1e-07, 123.456, -0.001, -0.0, 1e300]
    rc, out, err = run("call", "-t", "local", "mitogen.echo", json.dumps([values]))
    assert rc == OK and err == "", (rc, err)
    printed = [line.strip().rstrip(",") for line in out.splitlines()[1:-1]]
    assert printed == [repr(v) for v in values], printed
    assert json.loads(out) == values, out


if __name__ == "__main__":
    sys.exit(main())
