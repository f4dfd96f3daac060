#!/usr/bin/python3
# test-tool-stream.py — `mitogen run`, `mitogen cp` and fan-out, driven as a
# user would: a spawned process, its real stdout, stderr and exit status.
#
#   test-tool-stream.py PATH-TO-MITOGEN [TEST-NAME...]
#
# (or MITOGEN_TOOL=PATH). Plain asserts; every check runs, failures are
# listed at the end, exit status 1 if any. MITOGEN_TEST_BIG=N makes the
# big-file test use N MiB (default 256).
#
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

TOOL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MITOGEN_TOOL", "")
TOOL = os.path.abspath(TOOL) if TOOL else TOOL
if not TOOL:
    sys.exit("usage: test-tool-stream.py PATH-TO-MITOGEN (or set MITOGEN_TOOL)")
ONLY = sys.argv[2:]

OK, CALL, USAGE, CONNECT, CHANNEL = 0, 1, 2, 3, 4
CANNOT_RUN, NOT_FOUND = 126, 127

ENV = dict(os.environ)
ENV.pop("G_MESSAGES_DEBUG", None)  # stderr must carry only our lines
ENV.pop("MITOGEN_PASSWORD_FILE", None)
ENV.pop("MITOGEN_PROGRESS", None)

BIG_MIB = int(os.environ.get("MITOGEN_TEST_BIG", "256"))
MiB = 1024 * 1024
# -Db_sanitize builds (tests/meson.build): AddressSanitizer's shadow memory
# and quarantine of freed blocks make peak RSS meaningless, so the memory
# bounds are not checked there (everything else is).
SANITIZED = os.environ.get("MITOGEN_TEST_SANITIZE", "none") != "none"
if SANITIZED:
    print("memory bounds not checked: sanitizer build", flush=True)


def run(*args, input=None, timeout=120, env=None):
    p = subprocess.run([TOOL, *args], capture_output=True, env=env or ENV, timeout=timeout,
                       input=input if input is not None else b"")
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def expect_error(args, status, *fragments, input=None):
    rc, out, err = run(*args, input=input)
    assert rc == status, f"{args}: exit {rc}, wanted {status}; stderr {err!r}"
    assert out == b"", f"{args}: stdout should be empty, got {out!r}"
    assert err.endswith("\n") and err.count("\n") == 1, f"{args}: not exactly one stderr line: {err!r}"
    assert err.startswith("mitogen: "), f"{args}: stderr not 'mitogen: ...': {err!r}"
    for fragment in fragments:
        assert fragment in err, f"{args}: {fragment!r} not in {err!r}"
    return err


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


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(args, timeout=300, stdout=subprocess.DEVNULL):
    """Runs the tool, sampling the peak RSS (VmHWM) of it and of its
    children (the agents) until it exits. Returns (rc, seconds, tool KiB,
    largest child KiB, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen([TOOL, *args], stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=ENV)
    peaks = {}
    deadline = start + timeout
    while proc.poll() is None:
        for pid in [proc.pid] + children_of(proc.pid):
            hwm = vm_hwm_kib(pid)
            if hwm is not None:
                peaks[pid] = max(peaks.get(pid, 0), hwm)
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{args}: timed out")
        time.sleep(0.005)
    err = proc.stderr.read().decode(errors="replace")
    tool_kib = peaks.pop(proc.pid, 0)
    return proc.returncode, time.monotonic() - start, tool_kib, max(peaks.values(), default=0), err


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(MiB)
            if not block:
                return h.hexdigest()
            h.update(block)


def tree_listing(root):
    """{relative path: (kind, mode, mtime_ns, sha256 or link target)}"""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                result[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                result[rel] = ("dir", st.st_mode, st.st_mtime_ns)
            else:
                result[rel] = ("file", st.st_mode, st.st_mtime_ns, sha256_file(path))
    return result


TESTS = []


def test(func):
    TESTS.append(func)
    return func


# --- run ---------------------------------------------------------------------

@test
def run_live_streaming():
    start = time.monotonic()
    proc = subprocess.Popen([TOOL, "run", "-t", "local", "--", "sh", "-c", "echo first; sleep 2; echo second"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV)
    first = proc.stdout.readline()
    first_at = time.monotonic() - start
    rest, err = proc.communicate(timeout=30)
    total = time.monotonic() - start
    assert first == b"first\n", first
    assert first_at < 1.0, f"the first line took {first_at:.2f} s: not streamed"
    assert rest == b"second\n" and total >= 2.0, (rest, total)
    assert proc.returncode == 0 and err == b"", (proc.returncode, err)


@test
def run_streams_and_status():
    rc, out, err = run("run", "-t", "local", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (rc, out, err) == (7, b"out\n", "err\n"), (rc, out, err)
    rc, out, err = run("run", "-t", "local", "true")
    assert (rc, out, err) == (0, b"", ""), (rc, out, err)
    rc, out, err = run("run", "-t", "local", "--", "sh", "-c", "kill -TERM $$")
    assert rc == 128 + signal.SIGTERM and err == "", (rc, err)
    rc, out, err = run("run", "-t", "local", "--", "sh", "-c", "kill -KILL $$")
    assert rc == 128 + signal.SIGKILL, rc
    # Options after PROGRAM belong to it; --cwd applies in the target.
    rc, out, err = run("run", "-t", "local", "--cwd", "/", "ls", "-d", "-1", ".")
    assert (rc, out) == (0, b".\n"), (rc, out, err)
    rc, out, err = run("run", "-t", "local", "--cwd", "/tmp", "pwd")
    assert (rc, out) == (0, b"/tmp\n"), (rc, out, err)


@test
def run_stdin_passthrough():
    data = os.urandom(3 * MiB + 11)
    rc, out, err = run("run", "-t", "local", "sha256sum", input=data)
    assert rc == 0 and out.split()[0].decode() == hashlib.sha256(data).hexdigest(), (rc, out, err)
    # End-of-file reaches the program: cat ends, then the shell goes on.
    rc, out, err = run("run", "-t", "local", "--", "sh", "-c", "cat; echo done", input=b"line\n")
    assert (rc, out) == (0, b"line\ndone\n"), (rc, out, err)
    # Binary both ways, byte for byte.
    rc, out, err = run("run", "-t", "local", "cat", input=data)
    assert rc == 0 and out == data, (rc, len(out), err)
    # -n: the program reads end-of-file at once.
    rc, out, err = run("run", "-n", "-t", "local", "wc", "-c", input=b"ignored")
    assert (rc, out.strip()) == (0, b"0"), (rc, out, err)


@test
def run_flow_control():
    # 200 MB of output that nobody reads for a while: the context stops
    # reading the program's pipe; memory stays bounded on both sides.
    size = 200 * 1000 * 1000
    proc = subprocess.Popen([TOOL, "run", "-t", "local", "head", "-c", str(size), "/dev/zero"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV)
    time.sleep(1.5)
    pids = [proc.pid] + children_of(proc.pid)
    peaks = [vm_hwm_kib(pid) or 0 for pid in pids]
    total = 0
    while True:
        block = proc.stdout.read(MiB)
        if not block:
            break
        total += len(block)
    proc.wait(timeout=60)
    assert proc.returncode == 0 and total == size, (proc.returncode, total)
    assert max(peaks) < 64 * 1024, f"peak RSS {peaks} KiB while the output was not read"


@test
def run_signal_forwarding():
    proc = subprocess.Popen([TOOL, "run", "-t", "local", "sleep", "30"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV)
    def cmdline(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read()
        except OSError:
            return b""

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(cmdline(c).startswith(b"sleep") for a in children_of(proc.pid) for c in children_of(a)):
            break
        time.sleep(0.05)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - start < 5, "SIGTERM was not passed on"
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err)


# A program that traps SIGINT and exits 7, once it said it is ready.
TRAP_INT_7 = "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.1; done"


def process_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if process_alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return left


def ctrl_c(args, ready=b"ready\n", sig=signal.SIGINT, env=None, timeout=30):
    """Starts the tool as a shell starts a foreground job, in a process
    group of its own, waits until its stdout has shown @ready, then
    signals the whole group as the terminal does for Ctrl-C. Returns (rc,
    stdout after @ready, stderr, the tool's children while it ran)."""
    proc = subprocess.Popen([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env or ENV, start_new_session=True)
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(ready):
        ready_fds, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready_fds:
            proc.kill()
            raise AssertionError(f"{args}: never ready: {seen!r}, stderr {proc.stderr.read()!r}")
        byte = os.read(proc.stdout.fileno(), 1)
        assert byte, f"{args}: ended before ready: {seen!r}, rc {proc.wait()}, stderr {proc.stderr.read()!r}"
        seen += byte
    children = children_of(proc.pid)
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err.decode(errors="replace"), children


@test
def run_ctrl_c():
    # The program's own handler runs: it sees SIGINT, prints, exits 7, and
    # so do we (the context was not killed with us by the terminal's
    # signal: a local context runs in a session of its own).
    rc, out, err, agents = ctrl_c(("run", "-t", "local", "--", "sh", "-c", TRAP_INT_7))
    assert (rc, out, err) == (7, b"got INT\n", ""), (rc, out, err)
    assert agents and not wait_gone(agents), agents
    # A program that does not handle it dies of it: 128+2.
    rc, out, err, agents = ctrl_c(("run", "-t", "local", "--", "sh", "-c", "echo ready; sleep 30"))
    assert (rc, out, err) == (128 + signal.SIGINT, b"", ""), (rc, out, err)
    assert not wait_gone(agents), agents
    # SIGTERM and SIGHUP to the group are passed on the same way.
    for sig, status in ((signal.SIGTERM, 9), (signal.SIGHUP, 11)):
        script = f"trap 'exit {status}' {sig.name[3:]}; echo ready; while :; do sleep 0.1; done"
        rc, out, err, agents = ctrl_c(("run", "-t", "local", "--", "sh", "-c", script), sig=sig)
        # (stderr: the shell may say its sleep was "Terminated")
        assert rc == status, (sig, rc, err)
    # Through a via hop (local/local): the program still decides.
    rc, out, err, agents = ctrl_c(("run", "-t", "local/local", "--", "sh", "-c", TRAP_INT_7))
    assert (rc, out, err) == (7, b"got INT\n", ""), (rc, out, err)
    # --json: the program's exit status in the final line.
    rc, out, err, agents = ctrl_c(("run", "--json", "-t", "local", "--", "sh", "-c", TRAP_INT_7),
                                  ready=b'"data":"ready\\n"}\n')
    final = json.loads(out.decode().splitlines()[-1])
    assert rc == 7 and final["exit_status"] == 7 and final["status"] == 7, (rc, out, err)


@test
def run_ctrl_c_fanout():
    # Every target's program gets it; the largest status wins.
    args = ("run", "-t", "local?remote_name=a", "-t", "local?remote_name=b", "--", "sh", "-c",
            "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.1; done")
    proc = subprocess.Popen([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=ENV, start_new_session=True)
    seen = b""
    while seen.count(b"ready\n") < 2:
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, (seen, proc.wait())
        seen += chunk
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    lines = sorted((seen + out).decode().splitlines())
    assert proc.returncode == 7, (proc.returncode, lines, err)
    assert lines == sorted(["local?remote_name=a: ready", "local?remote_name=b: ready",
                            "local?remote_name=a: got INT", "local?remote_name=b: got INT"]), lines
    assert err.decode().splitlines()[-1] == "mitogen: 2 targets: 0 succeeded, 2 failed", err


@test
def run_ctrl_c_while_connecting():
    # A context that takes its time to start (its wrapper blocks opening a
    # FIFO): a signal then exits at once with 128+N and one line, and the
    # half-started context goes with us.
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        chain = f"local?wrapper=sh,-c,read x <{fifo.replace('/', '%2F')}; exec \"$0\" \"$@\""
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = subprocess.Popen([TOOL, "run", "-t", chain, "true"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV,
                                    start_new_session=True)
            deadline = time.monotonic() + 20
            while not children_of(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            waiting = children_of(proc.pid)
            assert waiting, "the wrapper never started"
            time.sleep(0.2)
            start = time.monotonic()
            os.killpg(proc.pid, sig)
            out, err = proc.communicate(timeout=20)
            assert time.monotonic() - start < 5
            text = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}[sig]
            assert (proc.returncode, out, err) == (128 + sig, b"", f"mitogen: {text}\n".encode()), \
                (proc.returncode, out, err)
            assert not wait_gone(waiting), waiting


@test
def run_json():
    rc, out, err = run("run", "--json", "-t", "local", "--", "sh", "-c", "echo hi; printf '\\377' >&2; exit 3")
    assert rc == 3, (rc, err)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    chunks = [line for line in lines if "stream" in line]
    assert {"target": "local", "stream": "stdout", "data": "hi\n"} in chunks, lines
    assert {"target": "local", "stream": "stderr", "data": {"base64": "/w=="}} in chunks, lines
    final = lines[-1]
    assert final["target"] == "local" and final["ok"] is False and final["status"] == 3, final
    assert final["exit_status"] == 3, final
    rc, out, err = run("run", "--json", "-t", "local", "--", "sh", "-c", "kill -INT $$")
    final = json.loads(out.decode().splitlines()[-1])
    assert rc == 130 and final["signal"] == signal.SIGINT and final["status"] == 130, (rc, final)


@test
def run_debug():
    rc, out, err = run("run", "-v", "-t", "local", "echo", "x")
    assert rc == 0 and out == b"x\n", (rc, out, err)
    assert "DEBUG" in err and "[local." in err, f"the context's forwarded logs are missing: {err!r}"


@test
def run_errors():
    expect_error(("run", "-t", "local"), USAGE, "PROGRAM")
    expect_error(("run", "true"), USAGE, "-t CHAIN")
    expect_error(("run", "--bogus", "-t", "local", "true"), USAGE, "--bogus")
    expect_error(("run", "-t", "nosuch", "true"), CONNECT, "nosuch")
    expect_error(("run", "-t", "local?nosuch=1", "true"), CONNECT, "nosuch")
    expect_error(("run", "-t", "local/", "true"), USAGE, "hop 2")
    expect_error(("run", "-t", "local", "no-such-program-mitogen"), NOT_FOUND, "no-such-program-mitogen")
    expect_error(("run", "-t", "local", "/"), CANNOT_RUN, "cannot run /")
    expect_error(("run", "-t", "local", "--cwd", "/nonexistent-mitogen", "true"), CANNOT_RUN, "nonexistent")
    expect_error(("run", "-t", "local?agent_path=%2Fnonexistent%2Fagent", "true"), CONNECT, "/nonexistent/agent")
    # Unreachable: nothing listens on port 1.
    expect_error(("run", "-t", "ssh:127.0.0.1?port=1&connect_timeout=5", "true"), CONNECT, "127.0.0.1")
    expect_error(("call", "-t", "local/ssh:127.0.0.1?port=1&connect_timeout=5", "os.getpid"), CONNECT, "hop 2")


# --- fan-out -------------------------------------------------------------------

def local_targets(n, prefix="t"):
    args = []
    for i in range(n):
        args += ["-t", f"local?remote_name={prefix}{i}"]
    return args


@test
def call_fanout_20():
    start = time.monotonic()
    rc, out, err = run("call", *local_targets(20), "os.getpid")
    elapsed = time.monotonic() - start
    assert rc == OK, (rc, err)
    lines = out.decode().splitlines()
    assert len(lines) == 20, lines
    pids = {}
    for line in lines:
        name, value = line.split(": ", 1)
        pids[name] = int(value)
    assert set(pids) == {f"local?remote_name=t{i}" for i in range(20)}, pids
    assert len(set(pids.values())) == 20, "each target is its own context"
    assert err == "mitogen: 20 targets: 20 succeeded, 0 failed\n", err
    assert elapsed < 20, elapsed

    rc, out, err = run("call", "--json", *local_targets(20), "mitogen.identity")
    assert rc == OK, (rc, err)
    results = [json.loads(line) for line in out.decode().splitlines()]
    assert len(results) == 20 and all(r["ok"] and r["status"] == 0 for r in results), results
    assert len({r["result"]["context_id"] for r in results}) == 20, results


@test
def fanout_timeout():
    # --timeout: each target gets at most S seconds, connect included; one
    # past it ends with 124 and says so, the others are unaffected, and the
    # summary counts the timeouts.
    start = time.monotonic()
    rc, out, err = run("call", "--timeout", "1.5", *local_targets(2, "slow"), "mitogen.sleep", "[30]")
    elapsed = time.monotonic() - start
    assert rc == 124, (rc, err)
    errs = sorted(err.splitlines())
    assert errs == sorted([f"mitogen: local?remote_name=slow{i}: timed out after 1.5 s (--timeout)" for i in range(2)] +
                          ["mitogen: 2 targets: 0 succeeded, 2 failed (2 timed out)"]), errs
    assert elapsed < 15, elapsed

    rc, out, err = run("call", "--timeout", "60", *local_targets(3), "mitogen.sleep", "[0.1]")
    assert rc == OK and err == "mitogen: 3 targets: 3 succeeded, 0 failed\n", (rc, err)

    # An agent that stops answering (SIGSTOP) mid-run: that target times
    # out, the other completes; the tool exits, the agent goes once resumed.
    proc = subprocess.Popen([TOOL, "run", "--timeout", "4", *local_targets(2, "r"), "--", "sh", "-c",
                             "echo ready; sleep 1; echo done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV)
    agents = []
    stopped = None
    try:
        seen = b""
        while seen.count(b"ready\n") < 2:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, (seen, proc.wait())
            seen += chunk
        agents = children_of(proc.pid)
        assert len(agents) == 2, agents
        os.kill(agents[0], signal.SIGSTOP)
        stopped = agents[0]
        out, err = proc.communicate(timeout=60)
    finally:
        for a in agents:
            try:
                os.kill(a, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (seen + out).decode()
    err = err.decode()
    assert proc.returncode == 124, (proc.returncode, out, err)
    assert out.count(": done") == 1, out
    errs = err.splitlines()
    assert len([e for e in errs if e.endswith(": timed out after 4 s (--timeout)")]) == 1, errs
    assert errs[-1] == "mitogen: 2 targets: 1 succeeded, 1 failed (1 timed out)", errs
    assert not wait_gone([stopped]), "the stopped agent is gone once resumed"

    expect_error(["call", "--timeout", "-1", "-t", "local", "os.getpid"], USAGE, "--timeout must not be negative")


@test
def run_fanout_20():
    start = time.monotonic()
    rc, out, err = run("run", *local_targets(20), "--", "sh", "-c", "sleep 1; echo hello; echo oops >&2")
    elapsed = time.monotonic() - start
    assert rc == OK, (rc, err)
    lines = sorted(out.decode().splitlines())
    assert lines == sorted(f"local?remote_name=t{i}: hello" for i in range(20)), lines
    errs = err.splitlines()
    assert sorted(errs[:-1]) == sorted(f"local?remote_name=t{i}: oops" for i in range(20)), errs
    assert errs[-1] == "mitogen: 20 targets: 20 succeeded, 0 failed", errs
    assert elapsed < 10, f"{elapsed:.1f} s: the targets did not run in parallel"

    # Partial lines are completed; a failing target is named; the status is the largest.
    rc, out, err = run("run", "-t", "local?remote_name=a", "-t", "local?remote_name=b", "--", "sh", "-c",
                       "printf partial; exit 5")
    assert rc == 5, (rc, err)
    assert sorted(out.decode().splitlines()) == ["local?remote_name=a: partial", "local?remote_name=b: partial"]
    assert "mitogen: local?remote_name=a: exit status 5" in err and "2 targets: 0 succeeded, 2 failed" in err, err


@test
def fanout_targets_file_and_failures():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "targets")
        with open(path, "w") as f:
            f.write("# web servers\nlocal?remote_name=w1\n\n  local?remote_name=w2  \n"
                    "local?agent_path=%2Fnonexistent%2Fagent\nlocal?remote_name=w1\n")
        rc, out, err = run("call", "-t", f"@{path}", "socket.gethostname")
        assert rc == CONNECT, (rc, err)
        names = sorted(line.split(": ")[0] for line in out.decode().splitlines())
        assert names == ["local?remote_name=w1", "local?remote_name=w1#2", "local?remote_name=w2"], names
        assert "mitogen: local?agent_path=%2Fnonexistent%2Fagent: " in err, err
        assert err.splitlines()[-1] == "mitogen: 4 targets: 3 succeeded, 1 failed (1 could not connect)", err

        rc, out, err = run("call", "--json", "-t", f"@{path}", "mitogen.fail", '["boom"]')
        results = [json.loads(line) for line in out.decode().splitlines()]
        assert rc == CONNECT and len(results) == 4, (rc, results, err)
        by_status = sorted(r["status"] for r in results)
        assert by_status == [CALL, CALL, CALL, CONNECT], results
        assert all("boom" in r["error"] for r in results if r["status"] == CALL), results

        with open(path, "w") as f:
            f.write("# nothing\n")
        expect_error(("call", "-t", f"@{path}", "os.getpid"), USAGE, "no CHAIN")
        expect_error(("call", "-t", f"@{d}/missing", "os.getpid"), USAGE, "missing")
        with open(path, "w") as f:
            f.write("local\nlocal//x\n")
        expect_error(("call", "-t", f"@{path}", "os.getpid"), USAGE, "line 2")


# --- cp ----------------------------------------------------------------------

@test
def cp_big_file_both_ways():
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as d:
        src, put, got = (os.path.join(d, n) for n in ("src", "put", "got"))
        with open(src, "wb") as f:
            block = os.urandom(MiB)
            for i in range(BIG_MIB):
                f.write(block[i % 997:] + block[:i % 997])
        os.chmod(src, 0o640)
        os.utime(src, ns=(1_000_000_000_000_000_000, 1_200_000_000_123_456_789))
        expected = sha256_file(src)
        size = os.path.getsize(src)

        for args, dst in ((("cp", src, f"local:{put}"), put), (("cp", f"local:{put}", got), got)):
            rc, seconds, tool_kib, agent_kib, err = run_measured(args)
            assert rc == 0 and err == "", (args, rc, err)
            assert sha256_file(dst) == expected, args
            st = os.stat(dst)
            assert st.st_size == size and st.st_mode & 0o7777 == 0o640, (args, st)
            assert st.st_mtime_ns == 1_200_000_000_123_456_789, (args, st.st_mtime_ns)
            # Bounded memory: far below the file's size on both sides.
            limit = 64 * 1024
            assert SANITIZED or 0 < tool_kib < limit and 0 < agent_kib < limit, (args, tool_kib, agent_kib)
            print(f"  {' '.join(args[:1])} {'put' if dst == put else 'get'} {size // MiB} MiB: "
                  f"{seconds:.2f} s, peak RSS tool {tool_kib // 1024} MiB, agent {agent_kib // 1024} MiB")


def make_tree(root, n_files):
    rnd = random.Random(7)
    os.makedirs(root)
    for i in range(n_files):
        sub = os.path.join(root, f"d{i % 10}", f"e{i % 7}")
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, f"f{i}.dat")
        with open(path, "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(0, 20000)))
        os.chmod(path, rnd.choice((0o600, 0o644, 0o755, 0o640)))
        os.utime(path, ns=(0, 1_500_000_000_000_000_000 + i * 1_000_003))
    os.symlink("d0/e0/f0.dat", os.path.join(root, "link"))
    os.symlink("/nonexistent", os.path.join(root, "d1", "dangling"))
    os.chmod(os.path.join(root, "d2"), 0o750)
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        os.utime(dirpath, ns=(0, 1_400_000_000_000_000_000))


@test
def cp_tree_1000_both_ways():
    with tempfile.TemporaryDirectory() as d:
        tree = os.path.join(d, "tree")
        make_tree(tree, 1000)
        expected = tree_listing(tree)
        assert sum(1 for v in expected.values() if v[0] == "file") == 1000

        # put into a new name, then get into an existing directory.
        rc, seconds, tool_kib, agent_kib, err = run_measured(("cp", "-r", tree, f"local:{d}/put"))
        assert rc == 0 and err == "", (rc, err)
        assert tree_listing(os.path.join(d, "put")) == expected
        os.mkdir(os.path.join(d, "into"))
        rc, seconds2, tool_kib2, agent_kib2, err = run_measured(("cp", "-r", f"local:{d}/put", f"{d}/into"))
        assert rc == 0 and err == "", (rc, err)
        assert tree_listing(os.path.join(d, "into", "put")) == expected
        assert SANITIZED or max(tool_kib, agent_kib, tool_kib2, agent_kib2) < 64 * 1024
        print(f"  tree of 1000 files: put {seconds:.2f} s, get {seconds2:.2f} s")

        # Copying again merges and replaces.
        rc, out, err = run("cp", "-r", tree, f"local:{d}/put/..")
        assert rc == 0 and tree_listing(os.path.join(d, "put")) == expected, (rc, err)


@test
def cp_files_and_options():
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        with open(a, "wb") as f:
            f.write(b"alpha\n")
        with open(b, "wb") as f:
            f.write(os.urandom(100000))
        out_dir = os.path.join(d, "out")
        os.mkdir(out_dir)
        # Several sources into a directory, via -t and :PATH.
        rc, out, err = run("cp", "-t", "local", a, b, f":{out_dir}")
        assert (rc, out, err) == (0, b"", ""), (rc, out, err)
        assert open(os.path.join(out_dir, "a"), "rb").read() == b"alpha\n"
        assert sha256_file(os.path.join(out_dir, "b")) == sha256_file(b)
        # Get with the source's name into the current directory, `~` expanded remotely.
        rc, out, err = run("cp", f"local:{a}", f"{d}/c")
        assert rc == 0 and open(os.path.join(d, "c"), "rb").read() == b"alpha\n", (rc, err)
        home = tempfile.mkdtemp(dir=d)
        env = dict(ENV, HOME=home)
        shutil.copy(a, os.path.join(home, "h"))
        p = subprocess.run([TOOL, "cp", "local:~/h", f"{d}/h"], capture_output=True, env=env)
        assert p.returncode == 0 and open(f"{d}/h", "rb").read() == b"alpha\n", p
        # --json: one object per source.
        rc, out, err = run("cp", "--json", f"local:{a}", f"local:{b}", out_dir)
        results = [json.loads(line) for line in out.decode().splitlines()]
        assert rc == 0 and len(results) == 2, (rc, out, err)
        assert results[0]["ok"] and results[0]["bytes"] == 6 and results[0]["files"] == 1, results
        assert results[0]["sha256"] == hashlib.sha256(b"alpha\n").hexdigest(), results
        assert results[0]["path"] == os.path.join(out_dir, "a"), results
        rc, out, err = run("cp", "--json", f"local:{d}/missing", f"local:{a}", out_dir)
        results = [json.loads(line) for line in out.decode().splitlines()]
        assert rc == CALL and [r["ok"] for r in results] == [False, True], (rc, results)
        assert "missing" in results[0]["error"] and results[0]["status"] == CALL, results


@test
def cp_progress_bar():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        with open(src, "wb") as f:
            f.write(os.urandom(8 * MiB))
        # Not a terminal: no progress output at all.
        rc, out, err = run("cp", src, f"local:{d}/x")
        assert (rc, out, err) == (0, b"", ""), (rc, out, err)
        # stderr on a terminal: a bar with percentage, rate and time.
        master, slave = os.openpty()
        p = subprocess.Popen([TOOL, "cp", src, f"local:{d}/y"], stdout=subprocess.PIPE, stderr=slave,
                             stdin=subprocess.DEVNULL, env=ENV)
        os.close(slave)
        text = b""
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        p.wait(timeout=30)
        os.close(master)
        text = text.decode(errors="replace")
        assert p.returncode == 0, (p.returncode, text)
        assert "100%" in text and "/s" in text and "src" in text, text
        assert re.search(r"8\.0 MiB/8\.0 MiB", text), text


def partials(root):
    """Every file a transfer writes before it is complete (.NAME.mitogen-XXXXXXXX) under @root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [os.path.join(dirpath, n) for n in filenames if re.match(r"^\..*\.mitogen-[0-9a-f]{8}$", n)]
    return found


def writing_in(pid, directory):
    """Whether process @pid has a file open in @directory (named or unnamed): a copy in progress."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(directory + "/") and os.path.dirname(target.split(" (deleted)")[0]) == directory:
            return True
    return False


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# The receiving end writes a file without a name (O_TMPFILE) where it can;
# MITOGEN_NO_O_TMPFILE=1 makes it use a named temporary, as on a
# filesystem without O_TMPFILE: the cleanup on the way out must remove it.
NAMED_TEMP_ENV = dict(ENV, MITOGEN_NO_O_TMPFILE="1")


def cp_midway(args, receiver_dir, direction, action, env=None):
    """Starts `mitogen cp` (a progress bar on its stderr) in a process group
    of its own, waits until the receiving side has the file open in
    @receiver_dir, then does @action: "ctrl-c" stops the agent (so the copy
    cannot finish meanwhile), signals the tool's group with SIGINT as a
    terminal would, waits for the tool to say it was interrupted and lets
    the agent go on; "kill-agent" kills the agent with SIGKILL. Returns
    (rc, stdout, stderr)."""
    env = dict(env or ENV, MITOGEN_PROGRESS="1")
    proc = subprocess.Popen([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        wait_for(lambda: children_of(proc.pid), "the agent")
        agent = children_of(proc.pid)[0]
        receiver = agent if direction == "put" else proc.pid
        wait_for(lambda: writing_in(receiver, receiver_dir), "the copy to start")
        # Mid-copy, the file has a (hidden) name only without O_TMPFILE.
        named = env.get("MITOGEN_NO_O_TMPFILE") is not None
        assert bool(partials(receiver_dir)) == named, (named, os.listdir(receiver_dir))
        said = b""
        if action == "ctrl-c":
            os.kill(agent, signal.SIGSTOP)
            try:
                os.killpg(proc.pid, signal.SIGINT)
                stream = proc.stdout if "--json" in args else proc.stderr
                while b"interrupted" not in said:
                    chunk = os.read(stream.fileno(), 65536)
                    assert chunk, f"no 'interrupted' from the tool: {said!r}"
                    said += chunk
            finally:
                os.kill(agent, signal.SIGCONT)
        else:
            os.kill(agent, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert not wait_gone([agent]), "the agent is still there"
        if "--json" in args and action == "ctrl-c":
            out = said + out
        else:
            err = said + err
        return proc.returncode, out, err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def big_file(path, mib):
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(mib):
            f.write(block)


@test
def cp_ctrl_c():
    # Interrupted mid-copy, either way: the receiving side removes its
    # partial file, the bar's line is ended, one line says so, exit 130.
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = os.path.join(d, "src.bin"), os.path.join(d, "out")
        os.mkdir(out_dir)
        big_file(src, 64)
        for env, direction, args in ((env, direction, args) for env in (ENV, NAMED_TEMP_ENV)
                                     for direction, args in (("put", ("cp", src, f"local:{out_dir}/")),
                                                             ("get", ("cp", f"local:{src}", f"{out_dir}/")))):
            rc, out, err = cp_midway(args, out_dir, direction, "ctrl-c", env=env)
            direction += " named" if env is NAMED_TEMP_ENV else ""
            assert rc == 128 + signal.SIGINT, (direction, rc, err)
            assert err.endswith("\nmitogen: cp: interrupted\n"), (direction, err)
            bar = err.rsplit("\n", 2)[-3].rsplit("\r", 1)[-1]
            # The bar shows how far it got (not 100%) and its line is ended.
            assert re.match(r"src\.bin .* \d+% \S+ \S*B/64\.0 MiB", bar) and "100%" not in bar, (direction, bar)
            assert os.listdir(out_dir) == [] and partials(d) == [], (direction, os.listdir(out_dir))
        # While connecting: at once, one line.
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        chain = f"local?wrapper=sh,-c,read x <{fifo.replace('/', '%2F')}; exec \"$0\" \"$@\""
        proc = subprocess.Popen([TOOL, "cp", src, f"{chain}:{out_dir}/"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV, start_new_session=True)
        wait_for(lambda: children_of(proc.pid), "the wrapper")
        waiting = children_of(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert (proc.returncode, out, err) == (130, b"", b"mitogen: cp: interrupted\n"), (proc.returncode, out, err)
        assert not wait_gone(waiting)
        os.unlink(fifo)
        # --json: the copy's line says so; nothing on stderr.
        rc, out, err = cp_midway(("cp", "--json", f"local:{src}", f"{out_dir}/"), out_dir, "get", "ctrl-c")
        result = json.loads(out)
        assert rc == 130 and result["ok"] is False and result["status"] == 130, (rc, out, err)
        assert result["error"] == "interrupted" and "mitogen:" not in err, (result, err)
        assert os.listdir(out_dir) == [] and partials(d) == []


@test
def cp_peer_killed():
    # The context is killed mid-copy: a clear error (exit 4), and no
    # partial file on either side once it is gone, even the one it was
    # writing itself.
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = os.path.join(d, "src.bin"), os.path.join(d, "out")
        os.mkdir(out_dir)
        big_file(src, 64)
        # (A context killed outright cannot remove a named temporary: the
        # put with MITOGEN_NO_O_TMPFILE is the one case not run.)
        for env, direction, args in ((ENV, "put", ("cp", src, f"local:{out_dir}/")),
                                     (ENV, "get", ("cp", f"local:{src}", f"{out_dir}/")),
                                     (NAMED_TEMP_ENV, "get", ("cp", f"local:{src}", f"{out_dir}/"))):
            rc, out, err = cp_midway(args, out_dir, direction, "kill-agent", env=env)
            line = err.rsplit("\n", 2)[-2]
            assert rc == CHANNEL, (direction, rc, err)
            assert line.startswith("mitogen: ") and "src.bin" in line and "local" in line, (direction, line)
            assert "was lost during file." in line, (direction, line)
            assert os.listdir(out_dir) == [] and partials(d) == [], (direction, os.listdir(out_dir))


def home_target(home, name):
    """A local target whose home directory (~ in its paths) is @home."""
    return f"local?remote_name={name}&wrapper=env,HOME={home.replace('/', '%2F')}"


@test
def cp_fanout():
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        with open(a, "wb") as f:
            f.write(os.urandom(300000))
        with open(b, "wb") as f:
            f.write(b"bee\n")
        homes = [os.path.join(d, f"home{i}") for i in range(3)]
        targets = [home_target(h, f"h{i}") for i, h in enumerate(homes)]
        t_args = [x for t in targets for x in ("-t", t)]
        for h in homes:
            os.mkdir(h)

        # put: both files into every target's ~; one line per target, then the summary.
        rc, out, err = run("cp", *t_args, a, b, ":~/")
        assert rc == OK, (rc, out, err)
        assert sorted(out.decode().splitlines()) == sorted(f"{t}: copied 2 files, 293.0 KiB" for t in targets), out
        assert err == "mitogen: 3 targets: 3 succeeded, 0 failed\n", err
        for h in homes:
            assert sha256_file(os.path.join(h, "a")) == sha256_file(a) and open(os.path.join(h, "b")).read() == "bee\n"

        # get: each target's files into DESTINATION/TARGET/ ('/' in a name as %2F).
        os.remove(os.path.join(homes[2], "b"))
        out_dir = os.path.join(d, "out")
        os.mkdir(out_dir)
        via = "local/" + home_target(homes[0], "via")
        rc, out, err = run("cp", *t_args, "-t", via, ":~/b", out_dir)
        # The third has no ~/b: that target fails, the others copy; status 1.
        assert rc == CALL, (rc, out, err)
        lines = sorted(out.decode().splitlines())
        assert lines == sorted([f"{targets[0]}: copied 1 file, 4 B into {out_dir}/{targets[0]}",
                                f"{targets[1]}: copied 1 file, 4 B into {out_dir}/{targets[1]}",
                                f"{via}: copied 1 file, 4 B into {out_dir}/{via.replace('/', '%2F')}"]), lines
        errs = err.splitlines()
        assert len(errs) == 2 and errs[0].startswith(f"mitogen: {targets[2]}: :~/b: ") and "No such file" in errs[0], errs
        assert errs[1] == "mitogen: 4 targets: 3 succeeded, 1 failed", errs
        assert open(os.path.join(out_dir, via.replace("/", "%2F"), "b")).read() == "bee\n"
        assert os.listdir(os.path.join(out_dir, targets[2])) == []

        # --json: one object per target, its copies inside.
        rc, out, err = run("cp", "--json", *t_args[:4], a, ":~/json-a")
        results = sorted((json.loads(line) for line in out.decode().splitlines()), key=lambda r: r["target"])
        assert rc == OK and err == "mitogen: 2 targets: 2 succeeded, 0 failed\n", (rc, out, err)
        assert [r["target"] for r in results] == sorted(targets[:2]), results
        for r, h in zip(results, sorted(homes[:2])):
            assert r["ok"] and r["status"] == 0 and r["files"] == 1 and r["bytes"] == 300000, r
            assert len(r["copies"]) == 1 and r["copies"][0]["path"] == os.path.join(h, "json-a"), r
            assert r["copies"][0]["sha256"] == sha256_file(a), r

        # A target that cannot start: exit 3, the largest status.
        rc, out, err = run("cp", "-t", targets[0], "-t", "local?agent_path=%2Fnonexistent", a, ":~/c")
        assert rc == CONNECT and "2 targets: 1 succeeded, 1 failed" in err, (rc, err)

        # --parallel is the limit the other commands have: three targets
        # taking 1 s each to start take 3 s one at a time, ~1 s together.
        slow = [f"local?remote_name=s{i}&wrapper=sh,-c,sleep 1; exec \"$0\" \"$@\"" for i in range(3)]
        s_args = [x for t in slow for x in ("-t", t)]
        for parallel, low, high in (("1", 3.0, 8.0), ("3", 1.0, 2.5)):
            start = time.monotonic()
            rc, out, err = run("cp", "--parallel", parallel, *s_args, b, f":{d}/slow-{parallel}")
            elapsed = time.monotonic() - start
            assert rc == OK and low <= elapsed < high, (parallel, rc, elapsed, err)
        assert partials(d) == []


@test
def cp_fanout_ctrl_c():
    # Interrupted while copying to two targets: both copies stop, neither
    # leaves a partial file, each target says so; 130.
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src.bin")
        big_file(src, 64)
        homes = [os.path.join(d, f"home{i}") for i in range(2)]
        for h in homes:
            os.mkdir(h)
        targets = [home_target(h, f"h{i}") for i, h in enumerate(homes)]
        proc = subprocess.Popen([TOOL, "cp", "-t", targets[0], "-t", targets[1], src, ":~/"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=ENV, start_new_session=True)
        try:
            wait_for(lambda: len(children_of(proc.pid)) == 2, "two agents")
            agents = children_of(proc.pid)
            wait_for(lambda: all(any(writing_in(a, h) for a in agents) for h in homes), "both copies")
            for a in agents:
                os.kill(a, signal.SIGSTOP)
            try:
                os.killpg(proc.pid, signal.SIGINT)
                err = b""
                while err.count(b"interrupted") < 2:
                    chunk = os.read(proc.stderr.fileno(), 65536)
                    assert chunk, err
                    err += chunk
            finally:
                for a in agents:
                    os.kill(a, signal.SIGCONT)
            out, rest = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines = sorted((err + rest).decode().splitlines())
        assert proc.returncode == 130, (proc.returncode, lines)
        assert lines == sorted([f"mitogen: {t}: interrupted" for t in targets] +
                               ["mitogen: 2 targets: 0 succeeded, 2 failed"]), lines
        assert not wait_gone(agents)
        assert os.listdir(homes[0]) == [] and os.listdir(homes[1]) == [] and partials(d) == []


@test
def cp_errors():
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "f")
        open(f, "w").write("x")
        expect_error(("cp", f), USAGE, "SOURCE and DESTINATION")
        expect_error(("cp",), USAGE, "SOURCE and DESTINATION")
        expect_error(("cp", f, f"{d}/g"), USAGE, "both local")
        expect_error(("cp", f"local:{f}", f"local:{d}/g"), USAGE, "both remote")
        expect_error(("cp", f":{f}", f"{d}/g"), USAGE, "-t")
        expect_error(("cp", "local:", f"{d}/g"), USAGE, "no PATH")
        expect_error(("cp", "", f"{d}/g"), USAGE, "empty path")
        expect_error(("cp", "-t", "local", "-t", "local", f"local:{f}", d), USAGE, "several targets", ":PATH")
        expect_error(("cp", "-t", "local", "-t", "local", f":{f}", f"{d}/f"), CALL, "not a directory")
        expect_error(("cp", "--bogus", f"local:{f}", d), USAGE, "--bogus")
        expect_error(("cp", f"local?bogus=1:{f}", d), CONNECT, "bogus")
        expect_error(("cp", f"nosuch:host:{f}", d), CONNECT, "nosuch")
        expect_error(("cp", f"ssh:127.0.0.1?port=1&connect_timeout=5:{f}", d), CONNECT, "127.0.0.1")
        expect_error(("cp", f"local:{d}/missing", f"{d}/g"), CALL, "missing", "No such file")
        expect_error(("cp", f"{d}/missing", f"local:{d}/g"), CALL, "missing")
        expect_error(("cp", f"local:{d}", f"{d}/g"), CALL, "is a directory")
        expect_error(("cp", f, f"local:{d}/nodir/"), CALL, "No such directory")
        expect_error(("cp", f"local:{f}", f"{d}/nodir/g"), CALL, "nodir")
        expect_error(("cp", f, f"local:{d}/f", f"local:{d}/new"), USAGE, "both remote")
        expect_error(("cp", f, f, f"local:{f}"), CALL, "not a directory")
        expect_error(("cp", f"local:{f}", f"local:{f}", f), CALL, "not a directory")
        assert not os.path.exists(os.path.join(d, "g"))


# --- passwords -----------------------------------------------------------------

@test
def password_never_in_chain():
    err = expect_error(("call", "-t", "sudo?password=hunter2", "os.getuid"), USAGE, "password", "--ask-pass")
    assert "hunter2" not in err, err
    err = expect_error(("run", "-t", "local/sudo?user=root&Password=hunter2", "true"), USAGE, "hop 2")
    assert "hunter2" not in err, err
    err = expect_error(("cp", "-t", "sudo?pass%77ord=hunter2", "/etc/hostname", ":/tmp/x"), USAGE, "password")
    assert "hunter2" not in err, err


@test
def password_sources():
    with tempfile.TemporaryDirectory() as d:
        pw = os.path.join(d, "pw")
        with open(pw, "w") as f:
            f.write("secret\nignored\n")
        expect_error(("call", "-t", "local", "--password-file", pw, "os.getuid"), USAGE, "no hop")
        expect_error(("call", "-t", "sudo", "--password-file", f"{d}/missing", "os.getuid"), USAGE,
                     "--password-file")
        expect_error(("call", "-t", "sudo", "--ask-pass", "os.getuid"), USAGE, "terminal")
        p = subprocess.run([TOOL, "call", "-t", "sudo", "os.getuid"], capture_output=True,
                           env=dict(ENV, MITOGEN_PASSWORD_FILE=f"{d}/missing"))
        assert p.returncode == USAGE and b"MITOGEN_PASSWORD_FILE" in p.stderr, p
        # A local-only CHAIN ignores MITOGEN_PASSWORD_FILE.
        p = subprocess.run([TOOL, "call", "-t", "local", "os.getuid"], capture_output=True,
                           env=dict(ENV, MITOGEN_PASSWORD_FILE=f"{d}/missing"))
        assert p.returncode == OK, p

        if os.geteuid() != 0 or shutil.which("sudo") is None:
            print("  (sudo as root unavailable: password delivery not exercised)")
            return
        rc, out, err = run("call", "-t", "sudo", "--password-file", pw, "os.getuid")
        assert (rc, out.strip(), err) == (0, b"0", ""), (rc, out, err)
        p = subprocess.run([TOOL, "call", "-t", "sudo", "os.getuid"], capture_output=True,
                           env=dict(ENV, MITOGEN_PASSWORD_FILE=pw))
        assert p.returncode == 0 and p.stdout.strip() == b"0", p

        # --ask-pass: prompted on the terminal, not echoed.
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(TOOL, [TOOL, "call", "-t", "sudo", "--ask-pass", "os.getuid"], ENV)
        text = b""
        deadline = time.monotonic() + 30
        sent = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                text += chunk
            if not sent and b"Password: " in text:
                os.write(fd, b"typed-secret\n")
                sent = True
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert sent, text
        assert os.waitstatus_to_exitcode(status) == 0, (status, text)
        assert b"typed-secret" not in text, f"the password was echoed: {text!r}"
        assert text.rstrip().endswith(b"0"), text


def main():
    failures = []
    selected = [t for t in TESTS if not ONLY or t.__name__ in ONLY]
    for func in selected:
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
        print(f"{len(failures)} of {len(selected)} failed: {', '.join(failures)}")
        return 1
    print(f"all {len(selected)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
