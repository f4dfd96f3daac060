#!/usr/bin/env python3
# Writes the reference's "Transport options" page from the transports'
# GParamSpecs, as the built tool reports them (`mitogen methods --describe
# --json`), so the page cannot drift from the code. Fails if a method the
# build made is missing.
#   transports-page.py TOOL OUTPUT.md METHOD...
#
# SPDX-License-Identifier: BSD-3-Clause

import json
import os
import subprocess
import sys

TITLE = 'Transport options'

# Methods with a page of their own in the reference.
PAGES = {'ssh': 'ssh.html', 'fakessh': 'fakessh.html'}


def cell(text):
    """Text for a Markdown table cell."""
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ')


def code(text):
    return '`%s`' % cell(text) if text else ''


def default_text(value):
    if value is None:
        return '(none)'
    if isinstance(value, bool):
        return code('true' if value else 'false')
    if isinstance(value, list):
        return code(','.join(value)) if value else '(empty)'
    if isinstance(value, str):
        return code(value) if value else '(empty)'
    return code(json.dumps(value))


def key(option):
    return (option['name'], option['type'], json.dumps(option['default']), option['description'])


def table(options):
    lines = ['| option | type | default | description |',
             '|--------|------|---------|-------------|']
    for o in options:
        lines.append('| `%s` | %s | %s | %s |' % (o['name'], cell(o['type']), default_text(o['default']),
                                                 cell(o['description']) or '(undocumented)'))
    return '\n'.join(lines)


def main():
    tool, output, *expected = sys.argv[1:]
    env = dict(os.environ)
    env.pop('MITOGEN_PLUGIN_PATH', None)  # the build tree's plugins only
    out = subprocess.run([tool, 'methods', '--describe', '--json'], env=env, check=True,
                         stdout=subprocess.PIPE).stdout
    methods = json.loads(out)
    names = [m['name'] for m in methods]
    missing = sorted(set(expected) - set(names))
    if missing:
        sys.exit('%s methods --describe did not list %s (it listed %s)' % (tool, ', '.join(missing), ', '.join(names)))

    common = set.intersection(*(set(key(o) for o in m['options']) for m in methods))
    shared = sorted((o for o in methods[0]['options'] if key(o) in common), key=lambda o: o['name'])

    text = ['Title: %s' % TITLE, '', '# %s' % TITLE, '',
            'Each connection method is a transport plugin, and its options are the',
            'writable properties of its transport class. This page is generated',
            'from those properties (their `GParamSpec`s) when the reference is',
            'built, so it lists exactly what this build accepts;',
            '`mitogen methods --describe` prints the same from an installed copy.',
            '',
            'Give options to `mitogen_router_connect()` (`Mitogen.Router.connect()`',
            'in Python and JavaScript) as a `GVariant` dictionary (`a{sv}`) whose',
            'values have the option\'s type: a string `s`, a boolean `b`, a',
            'number `d` (an integer works too), an integer of any GVariant',
            'integer type (`i`, `u`, `x`, ...), a string list `as`, and for a',
            '"one of" option the string of one of its values. On the `mitogen`',
            'command line they are part of the target: `METHOD:MAIN?OPTION=VALUE&...`,',
            'for example `ssh:web1?port=2222&compression_level=6`. In both, `_` and',
            '`-` in a name are the same. An unknown option or a value of the wrong',
            'type fails the connect with `MITOGEN_ERROR_INVALID_ARGUMENT`.',
            '',
            '## Options of every method',
            '',
            table(shared),
            '']
    for m in sorted(methods, key=lambda m: m['name']):
        own = [o for o in m['options'] if key(o) not in common]
        text += ['## `%s`' % m['name'], '']
        if m['name'] in PAGES:
            text += ['See also [the `%s` page](%s).' % (m['name'], PAGES[m['name']]), '']
        if own:
            text += ['Besides the options of every method:', '', table(own), '']
        else:
            text += ['Only the options of every method.', '']
    with open(output, 'w', encoding='utf-8') as f:
        f.write('\n'.join(text))


if __name__ == '__main__':
    main()
