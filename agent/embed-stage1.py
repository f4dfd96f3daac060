#!/usr/bin/env python3
"""Writes data/stage1.sh as a C file defining mitogen_bootstrap_stage1()
for the static agent (the library reads the same script from a GResource).
usage: embed-stage1.py INPUT OUTPUT"""
import sys

text = open(sys.argv[1], 'rb').read()
body = ''.join('\\x%02x' % b for b in text)
with open(sys.argv[2], 'w') as out:
    out.write('/* generated from data/stage1.sh by agent/embed-stage1.py */\n'
              '#include "config.h"\n'
              '#include "mitogen-bootstrap-private.h"\n\n'
              'static const char stage1[] = "' + body + '";\n\n'
              'GBytes *\n'
              'mitogen_bootstrap_stage1 (GError **error)\n'
              '{\n'
              '  return g_bytes_new_static (stage1, sizeof stage1 - 1);\n'
              '}\n')
