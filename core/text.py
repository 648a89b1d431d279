"""Characters that do not belong in what people type: control characters in titles, names and descriptions."""

from __future__ import annotations

import unicodedata

from flask_babel import get_locale
from markupsafe import Markup

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


def bdi(value) -> Markup:
    """`value` (escaped) in a <bdi> element: text a trainer or parent typed keeps its own direction on a page in
    another one (a Dutch title on an Arabic page). The Jinja filter `|bdi`."""
    return Markup("<bdi>{}</bdi>").format("" if value is None else value)


def in_page_language(item, name: str) -> str:
    """`item.text_in(<the page's language>, name)`: a title or description the trainer also wrote in the parent's
    language, else the main (Dutch) text. The Jinja filter `|local("title")`."""
    return item.text_in(str(get_locale() or ""), name) if item is not None else ""


#: FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: plain text's <bdi>.
FSI, PDI = "\u2068", "\u2069"
#: Languages written right to left: their plain texts isolate what the trainer typed.
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})


def isolate(value) -> str:
    """`value` between U+2068/U+2069 where it needs them: text with left-to-right letters (a Dutch title) inside a
    text in a right-to-left language keeps its own order. Unchanged otherwise, so a Dutch SMS stays in the GSM
    alphabet and an Arabic name in an Arabic text stays as it is. The Jinja filter `|isolate` (plain text)."""
    text = "" if value is None else str(value)
    language = str(get_locale() or "").split("_")[0]
    needed = language in RTL_LANGUAGES and any(unicodedata.bidirectional(char) == "L" for char in text)
    return f"{FSI}{text}{PDI}" if needed else text
