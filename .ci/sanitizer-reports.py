#!/usr/bin/env python3
"""Turns sanitizer report files into meson testlog lines for summarize.py.

    sanitizer-reports.py LOGDIR OUT.json

The sanitizer runs of .ci/run set log_path=LOGDIR/<name> for ASan, UBSan,
LSan and TSan, so every process of the run (test programs, and the agents
and helpers they start, whose stderr nobody reads) writes its reports to
LOGDIR/<name>.<pid>. Each file with an error in it is printed and becomes
one failed entry in OUT.json; other files (runtime warnings) are printed
only. A test program that reported fails in its own testlog too, so it
counts twice: that is fine, the line is meant to be 0 failed.
"""
import json
import os
import re
import sys

ERROR_RE = re.compile(r'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer:')

logdir, out = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []
failed = 0
with open(out, 'w') as log:
    for name in names:
        with open(os.path.join(logdir, name), errors='replace') as f:
            text = f.read()
        bad = ERROR_RE.search(text) is not None
        print(f'--- {"sanitizer report" if bad else "sanitizer note"}: {name}')
        print(text.rstrip())
        if bad:
            failed += 1
            log.write(json.dumps({'name': f'sanitizer report {name}', 'result': 'FAIL',
                                  'stderr': text}) + '\n')
print(f'{failed} sanitizer report(s) with errors in {logdir}')
