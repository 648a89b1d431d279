"""Catalogue checks: every message of the interface has its translations."""

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "translations" / "messages.pot"


def _ids(path: Path) -> dict:
    """msgid (a plural's singular) -> its translation (a plural's forms, or "" while any form is missing)."""
    with path.open("rb") as fh:
        messages = [m for m in read_po(fh) if m.id]
    return {(m.id[0] if isinstance(m.id, tuple) else m.id):
            (m.string if not isinstance(m.string, tuple) or all(m.string) else "") for m in messages}


@pytest.mark.parametrize("language", ["en", "ar", "tr"])
def test_catalogue_translates_every_message(language):
    catalogue = _ids(ROOT / "translations" / language / "LC_MESSAGES" / "messages.po")

    missing = sorted(i for i in _ids(TEMPLATE) if not catalogue.get(i))

    assert missing == []


def test_template_is_current_with_the_source():
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found = set()
    for sub in ("accounts", "courses", "sessions", "recordings", "activities", "parents", "dashboard", "core",
                "templates"):
        for _f, _l, message, _c, _ctx in extract_from_dir(ROOT / sub, method_map, options_map, keywords=keywords):
            found.add(message if isinstance(message, str) else message[0])

    assert found - set(_ids(TEMPLATE)) == set()


@pytest.mark.parametrize("language", ["nl", "en", "ar", "tr"])
def test_catalogue_placeholders_match_the_source(language):
    with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)

    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]

    assert problems == []
