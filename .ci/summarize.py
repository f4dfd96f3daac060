#!/usr/bin/env python3
"""Prints one line 'N passed, N failed, N skipped' from meson testlog.json files.

TAP tests count their subtests; other tests count once. A test program
that failed although all its subtests passed (crash at exit, timeout,
leak checker) counts as one more failure. Exits 1 if anything failed or
nothing ran.
"""
import json
import re
import sys

OK_RE = re.compile(r'^(not ok|ok)\b(.*)$')


def count(test):
    """Returns (passed, failed, skipped) for one test entry."""
    result = test.get('result', '')
    p = f = s = 0
    for line in (test.get('stdout') or '').splitlines():
        m = OK_RE.match(line)
        if not m:
            continue
        if '# SKIP' in m.group(2).upper():
            s += 1
        elif m.group(1) == 'ok':
            p += 1
        else:
            f += 1
    if p + f + s == 0:
        return (1, 0, 0) if result == 'OK' else (0, 0, 1) if result == 'SKIP' else (0, 1, 0)
    if result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and f == 0:
        f = 1
    return p, f, s


totals = [0, 0, 0]
for path in sys.argv[1:]:
    with open(path) as log:
        for line in log:
            if line.strip():
                for i, n in enumerate(count(json.loads(line))):
                    totals[i] += n

passed, failed, skipped = totals
print(f'{passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed or passed == 0 else 0)
