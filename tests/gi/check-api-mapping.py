#!/usr/bin/env python3
# Every C function docs/api-mapping.md names must exist: exported by the
# built library (nm -D) and present in the GIR (as a c:identifier, or as
# the glib:get-type of a type). Prints TAP, one line per name.
#
# Names are the backticked identifiers starting with `mitogen_` in the C
# column of the tables. A name is not checked when the doc itself says it
# does not exist yet or is not public:
#   * the row's status (third column) starts with "planned";
#   * the clause naming it (the C cell split at ';') says "planned" or
#     "internal", e.g. "internal `mitogen_router_allocate_context_id()`".
# A clause that says "not in the GIR" (a (skip) function such as
# mitogen_init()) is checked for the export only.
#
#   check-api-mapping.py API_MAPPING_MD LIBRARY [GIR]
#
# SPDX-License-Identifier: BSD-3-Clause

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

IDENT = re.compile(r'`(mitogen_[A-Za-z0-9_]+)(/?)')
CORE_NS = '{http://www.gtk.org/introspection/core/1.0}'
C_NS = '{http://www.gtk.org/introspection/c/1.0}'
GLIB_NS = '{http://www.gtk.org/introspection/glib/1.0}'


def split_row(line):
    """Cells of a markdown table row; backticked text may hold '|'."""
    cells, cell, in_code = [], '', False
    for ch in line.strip().strip('|'):
        if ch == '`':
            in_code = not in_code
        if ch == '|' and not in_code:
            cells.append(cell.strip())
            cell = ''
        else:
            cell += ch
    cells.append(cell.strip())
    return cells


def names_in_doc(path):
    """Yields (name, line number, reason-to-skip or None)."""
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.lstrip().startswith('|'):
                continue
            cells = split_row(line)
            if len(cells) < 3 or set(cells[1]) <= set('-: '):
                continue
            c_cell, status = cells[1], cells[2].lower()
            for clause in c_cell.split(';'):
                lowered = clause.lower()
                for name, slash in IDENT.findall(clause):
                    if slash:
                        # `mitogen_foo_get/set_bar()` names no symbol: spell names out.
                        yield name + '/…', number, None
                        continue
                    if status.startswith('planned'):
                        reason = 'planned (%s)' % cells[2]
                    elif 'internal' in lowered:
                        reason = 'marked internal'
                    elif 'planned' in lowered:
                        reason = 'marked planned'
                    elif 'not in the gir' in lowered:
                        reason = 'c-only'
                    else:
                        reason = None
                    yield name, number, reason


def dynamic_symbols(library):
    out = subprocess.run(['nm', '-D', '--defined-only', library],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def gir_identifiers(gir):
    names = set()
    for element in ET.parse(gir).iter():
        for attribute in (C_NS + 'identifier', GLIB_NS + 'get-type'):
            value = element.get(attribute)
            if value:
                names.add(value)
    return names


def main(argv):
    if len(argv) not in (3, 4):
        print('usage: check-api-mapping.py API_MAPPING_MD LIBRARY [GIR]', file=sys.stderr)
        return 2
    doc, library = argv[1], argv[2]
    exported = dynamic_symbols(library)
    in_gir = gir_identifiers(argv[3]) if len(argv) == 4 else None

    seen = {}
    for name, number, reason in names_in_doc(doc):
        # A name checked once is checked; a name skipped in one row but
        # claimed done in another is checked.
        if name not in seen or seen[name][1] is not None:
            seen[name] = (number, reason)

    if not seen:
        print('1..0 # SKIP no mitogen_ names found in %s' % doc)
        return 1

    print('1..%d' % len(seen))
    failed = 0
    for i, (name, (number, reason)) in enumerate(sorted(seen.items()), 1):
        where = 'api-mapping.md:%d' % number
        if reason is not None and reason != 'c-only':
            print('ok %d %s (%s) # SKIP %s' % (i, name, where, reason))
            continue
        problems = []
        if name.endswith('/…'):
            problems.append('a/b shorthand names no symbol: spell each name out')
        elif name not in exported:
            problems.append('not exported by %s' % library)
        if in_gir is not None and name not in in_gir and not name.endswith('/…') and reason != 'c-only':
            problems.append('not in the GIR')
        if problems:
            failed += 1
            print('not ok %d %s (%s): %s' % (i, name, where, ', '.join(problems)))
        else:
            print('ok %d %s (%s)%s' % (i, name, where,
                                       '' if in_gir is not None else ' # no GIR in this build: exported only'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
