"""Reading the trainer pages' tables."""

from __future__ import annotations

import re


def cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each body row of the table with this id."""
    table = re.search(rf'<table id="{table_id}">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    text = [[re.sub(r"<[^>]+>", " ", c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]
    return [[" ".join(c.split()) for c in row] for row in text]
