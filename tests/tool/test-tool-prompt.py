#!/usr/bin/python3
# test-tool-prompt.py — the `mitogen` tool's terminal prompts (its
# MitogenInteraction, tools/mitogen-prompt.c), driven through a real PTY
# (the pty module) as a person at a terminal would.
#
#   test-tool-prompt.py PATH-TO-MITOGEN
#
# The target is a stand-in for sudo (the sudo method's sudo_path option):
# a script that shows the prompt it is given on its controlling terminal
# (the sudo transport's PTY), reads the answer from it and runs the
# command only for "secret". So no root and no sudo are needed; the real
# sudo and sshd are exercised by tests/test-interaction.c and
# tests/test-tool-hosts.c.
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import pty
import select
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

TOOL = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MITOGEN_TOOL", ""))
CONNECT = 3
ENV = dict(os.environ)
ENV.pop("G_MESSAGES_DEBUG", None)
ENV.pop("MITOGEN_PASSWORD_FILE", None)

FAKE_SUDO = """#!/bin/sh
prompt=
while [ $# -gt 0 ]; do
  case $1 in
    -p) prompt=$2; shift 2 ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
printf '%s' "$prompt" > /dev/tty
read -r answer < /dev/tty || exit 1
if [ "$answer" != secret ]; then
  printf 'Sorry, try again.\\n%s' "$prompt" > /dev/tty
  sleep 10
  exit 1
fi
exec "$@"
"""


def in_pty(args, prompt, answer, timeout=60):
    """Runs the tool on a terminal of its own; types @answer once @prompt
    shows. Returns (exit status, what the terminal showed, answered)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(TOOL, [TOOL, *args], ENV)
    text = b""
    answered = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        if not answered and prompt in text:
            os.write(fd, answer)
            answered = True
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), text, answered


TESTS = []


def test(func):
    TESTS.append(func)
    return func


def chain(fake):
    return "sudo?sudo_path=" + urllib.parse.quote(fake, safe="")


@test
def password_prompted(fake):
    rc, text, answered = in_pty(["call", "-t", chain(fake), "os.getuid"], b"password for", b"secret\n")
    assert answered, text
    assert rc == 0, (rc, text)
    assert b"(sudo -u root) [sudo] password for " in text, text
    assert b"secret" not in text, f"the password was echoed: {text!r}"
    assert text.rstrip().endswith(str(os.getuid()).encode()), text


@test
def password_wrong(fake):
    rc, text, answered = in_pty(["call", "-t", chain(fake), "os.getuid"], b"password for", b"nope\n")
    assert answered, text
    assert rc == CONNECT, (rc, text)
    assert b"incorrect" in text, text


@test
def password_end_of_file(fake):
    # Ctrl-D at the prompt: no answer, the password error at once.
    start = time.monotonic()
    rc, text, answered = in_pty(["call", "-t", chain(fake), "os.getuid"], b"password for", b"\x04")
    assert answered, text
    assert rc == CONNECT, (rc, text)
    assert b"did not answer" in text, text
    assert time.monotonic() - start < 20, time.monotonic() - start


@test
def no_terminal(fake):
    # A new session has no controlling terminal: nothing is asked.
    start = time.monotonic()
    p = subprocess.run([TOOL, "call", "-t", chain(fake), "os.getuid"], capture_output=True, env=ENV,
                       stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
    assert p.returncode == CONNECT, p
    assert b"sudo password is required" in p.stderr and b"did not answer" in p.stderr, p.stderr
    assert time.monotonic() - start < 20


@test
def password_file_first(fake):
    # --password-file answers: the terminal is not asked.
    with tempfile.TemporaryDirectory() as d:
        pw = os.path.join(d, "pw")
        with open(pw, "w") as f:
            f.write("secret\n")
        rc, text, answered = in_pty(["call", "--password-file", pw, "-t", chain(fake), "os.getuid"],
                                    b"password for", b"wrong\n")
        assert not answered, text
        assert rc == 0, (rc, text)


def main():
    if not os.path.exists(TOOL):
        sys.exit("usage: test-tool-prompt.py PATH-TO-MITOGEN")
    failures = []
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, "sudo")
        with open(fake, "w") as f:
            f.write(FAKE_SUDO)
        os.chmod(fake, 0o755)
        for func in TESTS:
            start = time.monotonic()
            try:
                func(fake)
            except Exception:
                failures.append(func.__name__)
                print(f"FAIL {func.__name__}", flush=True)
                traceback.print_exc()
            else:
                print(f"ok   {func.__name__} ({time.monotonic() - start:.2f} s)", flush=True)
    print(f"{len(TESTS) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
