#!/usr/bin/env python3
# Runs every ```python or ```js code block of a Markdown guide
# (docs/python-guide.md, docs/javascript-guide.md) as a program of its
# own, so that a broken example fails the test. A block passes when it
# exits 0 within the time limit, writes nothing to stderr (an uncaught
# exception in a callback, a GLib warning, gjs's logError), and leaves no
# process and no file behind: it runs in a new session, with a marker in
# its environment, in an empty directory that is also its TMPDIR. Prints
# TAP, one test per block, named by its line in the guide.
#   run-guide.py python|js INTERPRETER GUIDE.md
# The environment (GI_TYPELIB_PATH, LD_LIBRARY_PATH, ...) is passed on.
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

TIMEOUT = 90
FENCE = re.compile(r'^(`{3,})\s*([\w+-]*)\s*$')
LANGUAGES = {
    'python': ('python', ('python', 'py'), '.py', lambda interp, path: [interp, path]),
    'js': ('JavaScript', ('js', 'javascript'), '.js', lambda interp, path: [interp, '-m', path]),
}


def blocks(path, tags):
    """(line number, code) of each fenced block whose info string is one of
    @tags, in order. An unterminated fence is an error."""
    found = []
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, tag, start = m.group(1), m.group(2).lower(), i + 1
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            sys.exit('%s:%d: unterminated code block' % (path, start))
        i += 1
        if tag in tags:
            found.append((start, '\n'.join(body) + '\n'))
    return found


def processes_of(session, marker):
    """Pids of processes in @session or with @marker in their environment."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
            # The fields after the command name (which may hold spaces).
            fields = stat[stat.rindex(')') + 2:].split()
            if fields[0] == 'Z':
                continue
            if int(fields[3]) == session:
                pids.append(int(entry))
                continue
            with open('/proc/%s/environ' % entry, 'rb') as f:
                if marker in f.read().split(b'\0'):
                    pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def leftovers(session, marker):
    """Processes still there 5 s after the block ended (killed then)."""
    deadline = time.monotonic() + 5
    while True:
        pids = processes_of(session, marker)
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    described = []
    for pid in pids:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                described.append('%d %s' % (pid, f.read().replace(b'\0', b' ').decode(errors='replace').strip()))
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return described


def run_block(language, interpreter, number, code):
    """A list of problems (empty: the block passed) and its output."""
    name, _, suffix, command = LANGUAGES[language]
    problems = []
    with tempfile.TemporaryDirectory(prefix='mitogen-guide-') as scratch:
        program = os.path.join(scratch, 'block-%d%s' % (number, suffix))
        with open(program, 'w', encoding='utf-8') as f:
            f.write(code)
        work = os.path.join(scratch, 'work')
        os.mkdir(work)
        marker = 'MITOGEN_GUIDE_BLOCK=%s' % uuid.uuid4().hex
        env = dict(os.environ, TMPDIR=work, MITOGEN_GUIDE_BLOCK=marker.split('=', 1)[1])
        # Output to files, not pipes: a process left behind holding them
        # must not keep us waiting.
        with open(os.path.join(scratch, 'stdout'), 'w+b') as out_file, \
             open(os.path.join(scratch, 'stderr'), 'w+b') as err_file:
            child = subprocess.Popen(command(interpreter, program), cwd=work, env=env, stdin=subprocess.DEVNULL,
                                     stdout=out_file, stderr=err_file, start_new_session=True)
            try:
                child.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                problems.append('did not finish within %d s' % TIMEOUT)
            out_file.seek(0)
            err_file.seek(0)
            out, err = out_file.read(), err_file.read()
        if child.returncode != 0 and not problems:
            problems.append('%s exited with status %d' % (name, child.returncode))
        if err:
            problems.append('wrote to stderr')
        left = leftovers(child.pid, marker.encode())
        if left:
            problems.append('left processes behind: %s' % '; '.join(left))
        files = sorted(os.listdir(work))
        if files:
            problems.append('left files behind: %s' % ', '.join(files))
            shutil.rmtree(work, ignore_errors=True)
    return problems, out.decode(errors='replace'), err.decode(errors='replace')


def main():
    language, interpreter, guide = sys.argv[1:]
    name, tags, _, _ = LANGUAGES[language]
    found = blocks(guide, tags)
    label = os.path.basename(guide)
    if not found:
        print('1..1')
        print('not ok 1 %s has no %s code blocks' % (label, name))
        return 1
    print('1..%d' % len(found))
    failed = 0
    for number, (line, code) in enumerate(found, 1):
        started = time.monotonic()
        problems, out, err = run_block(language, interpreter, number, code)
        what = '%s:%d (%.1f s)' % (label, line, time.monotonic() - started)
        if problems:
            failed += 1
            print('not ok %d %s: %s' % (number, what, '; '.join(problems)))
            for title, text in (('stdout', out), ('stderr', err)):
                if text:
                    print('# %s:' % title)
                    for text_line in text.rstrip('\n').split('\n'):
                        print('#   ' + text_line)
        else:
            print('ok %d %s' % (number, what))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
