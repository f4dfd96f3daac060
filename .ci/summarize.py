#!/usr/bin/env python3
"""Prints one line 'N passed, N failed, N skipped' from meson's testlog.json.

TAP tests count their subtests; other tests count once. A test program
that failed although all its subtests passed (crash at exit, timeout,
leak checker) counts as one more failure. Exits 1 if anything failed or
nothing ran.
"""
import json
import re
import sys

passed = failed = skipped = 0
ok_re = re.compile(r'^(not ok|ok)\b(.*)$')

with open(sys.argv[1]) as log:
    for line in log:
        if not line.strip():
            continue
        test = json.loads(line)
        result = test.get('result', '')
        p = f = s = 0
        for out in (test.get('stdout') or '').splitlines():
            m = ok_re.match(out)
            if not m:
                continue
            if '# SKIP' in m.group(2).upper():
                s += 1
            elif m.group(1) == 'ok':
                p += 1
            else:
                f += 1
        if p + f + s == 0:
            if result == 'OK':
                p = 1
            elif result == 'SKIP':
                s = 1
            else:
                f = 1
        elif result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and f == 0:
            f = 1
        passed += p
        failed += f
        skipped += s

print(f'{passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed or passed == 0 else 0)
