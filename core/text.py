"""Characters that do not belong in what people type: control characters in titles, names and descriptions."""

from __future__ import annotations

import unicodedata

#: Line and paragraph separators, and the bidi embeddings, overrides and isolates that reorder what is shown.
_LINE_AND_BIDI_CONTROLS = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: A text area may keep its line ends (browsers send CRLF) and tabs.
_MULTI_LINE_KEPT = frozenset("\r\n\t")


def _unwanted(char: str, multi_line: bool) -> bool:
    if multi_line:
        return char not in _MULTI_LINE_KEPT and unicodedata.category(char) == "Cc"
    return char in _LINE_AND_BIDI_CONTROLS or unicodedata.category(char) == "Cc"


def has_control_chars(value: str, *, multi_line: bool = False) -> bool:
    """True when `value` holds a control character (tab and line breaks too), a line separator or a bidi control.

    With `multi_line` (descriptions) only control characters count, and line ends and tabs are allowed.
    """
    return any(_unwanted(char, multi_line) for char in value)


def replace_control_chars(value: str, *, multi_line: bool = False) -> str:
    """`value` with every character has_control_chars() refuses replaced by a space, line ends made "\\n"."""
    value = value.replace("\r\n", "\n")  # one line end, one space
    if multi_line:
        value = value.replace("\r", "\n")
    return "".join(" " if _unwanted(char, multi_line) else char for char in value)
