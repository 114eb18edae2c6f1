#!/usr/bin/python3
"""Parse a Markdown file with Python-Markdown (Debian python3-markdown, its `tables`
extension) and print the cells of its first table as JSON: a list of rows (the header first),
each a list of cell texts. Exit code 3 when the module is missing, 1 when there is no table."""
import json
import sys
from html.parser import HTMLParser

try:
    import markdown
except ImportError:
    print("python3-markdown is not installed", file=sys.stderr)
    sys.exit(3)


class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.row, self.cell, self.depth = [], None, None, 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


with open(sys.argv[1], encoding="utf-8") as f:
    html = markdown.markdown(f.read(), extensions=["tables", "fenced_code"])
p = Tables()
p.feed(html)
if not p.tables:
    print("no table in " + sys.argv[1], file=sys.stderr)
    sys.exit(1)
print(json.dumps(p.tables[0]))
