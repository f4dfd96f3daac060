#!/usr/bin/env python3
# The reference's extra pages have their plain titles: for each page, the
# title the source's "# Title" line gives (code marks removed) is what the
# generated HTML shows in <title> ("Mitogen – 1.0: TITLE"), in the page's
# first <h1>, and as the index's link text; and no title anywhere has a
# "#", a newline or a literal "\n" / "/n" in it, or is gi-docgen's
# "Unknown document". Prints TAP.
#   check-content-pages.py HTML-DIR CONTENT-DIR PAGE.md...
#
# SPDX-License-Identifier: BSD-3-Clause

import html.parser
import os
import sys


class Page(html.parser.HTMLParser):
    """The <title>, the first <h1> and the links (href -> text) of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = None
        self.h1 = None
        self.links = {}
        self._open = {}  # tag -> text so far, for title, h1 and a
        self._href = None

    def handle_starttag(self, tag, attrs):
        if tag == 'title' and self.title is None or tag == 'h1' and self.h1 is None:
            self._open[tag] = []
        elif tag == 'a':
            self._href = dict(attrs).get('href')
            self._open['a'] = []

    def handle_endtag(self, tag):
        if tag not in self._open:
            return
        text = ''.join(self._open.pop(tag))
        if tag == 'title':
            self.title = text
        elif tag == 'h1':
            self.h1 = text
        elif self._href is not None:
            self.links.setdefault(self._href, ' '.join(text.split()))
            self._href = None

    def handle_data(self, data):
        for text in self._open.values():
            text.append(data)


def parse(path):
    page = Page()
    with open(path, encoding='utf-8') as f:
        page.feed(f.read())
    return page


def expected_title(path):
    """The source page's title: its Title: header if it has one (a
    generated page), else its first line '# Title'."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    if lines[0].startswith('Title: '):
        lines = lines[2:]
    return lines[0][2:].strip().replace('`', '') if lines[0].startswith('# ') else None


def bad(title):
    """What is wrong with a title, or None."""
    if not title:
        return 'empty'
    for token in ('#', '\n', '\\n', '/n', 'Unknown document'):
        if token in title:
            return 'has %r in it' % token
    if title != title.strip():
        return 'has surrounding white space'
    return None


def main():
    html_dir, content_dir, *pages = sys.argv[1:]
    source_dir = os.path.dirname(os.path.abspath(__file__))
    index = parse(os.path.join(html_dir, 'index.html'))
    checks = []
    for name in pages:
        source = os.path.join(source_dir, name)
        if not os.path.exists(source):
            source = os.path.join(content_dir, name)  # a generated page
        want = expected_title(source)
        href = name[:-3] + '.html'
        page = parse(os.path.join(html_dir, href))
        checks.append(('%s: the source starts with "# Title"' % name, want is not None and bad(want) is None,
                       'source title %r' % want))
        checks.append(('%s: <title>' % name, page.title == 'Mitogen \u2013 1.0: %s' % want and not bad(want),
                       'got %r' % page.title))
        checks.append(('%s: first <h1>' % name, page.h1 is not None and page.h1.strip() == want,
                       'got %r' % page.h1))
        checks.append(('%s: index link' % name, index.links.get(href) == want,
                       'got %r' % index.links.get(href)))
    print('1..%d' % len(checks))
    failed = 0
    for number, (what, ok, detail) in enumerate(checks, 1):
        if ok:
            print('ok %d %s' % (number, what))
        else:
            failed += 1
            print('not ok %d %s: %s' % (number, what, detail))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
