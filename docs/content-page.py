#!/usr/bin/env python3
# Makes a docs/*.md page a gi-docgen content file: gi-docgen takes a
# page's title from a Python-Markdown metadata header ("Title: ..." lines
# ended by an empty line) and says "Unknown document" without one. The
# title is the page's own first line, "# Title", with Markdown code marks
# removed; the page keeps that line as its visible heading.
#   content-page.py INPUT.md OUTPUT.md
#
# SPDX-License-Identifier: BSD-3-Clause

import sys


def page_title(path, text):
    """The plain title of a page whose first line is '# Title'."""
    first = text.split('\n', 1)[0].rstrip()
    if not first.startswith('# ') or not first[2:].strip():
        sys.exit('%s:1: a docs page must start with a "# Title" line, found %r' % (path, first))
    title = first[2:].strip().replace('`', '')
    if '#' in title:
        sys.exit('%s:1: the title %r has a "#" in it' % (path, title))
    return title


def main():
    source, output = sys.argv[1:]
    with open(source, encoding='utf-8') as f:
        text = f.read()
    title = page_title(source, text)
    with open(output, 'w', encoding='utf-8') as f:
        f.write('Title: %s\n\n%s' % (title, text))


if __name__ == '__main__':
    main()
