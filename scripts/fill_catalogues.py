"""Fill the .po catalogues from JSON files shaped {"<Dutch msgid>": {"en": ..., "ar": ..., "tr": ...}}.

Existing translations are kept; prints the messages each catalogue still lacks. Used when a feature adds texts:
  pybabel extract ... && pybabel update ... && python scripts/fill_catalogues.py new.json
"""

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main(paths: list[str]) -> None:
    merged: dict[str, dict[str, str]] = {}
    for path in paths:
        for msgid, texts in json.loads(Path(path).read_text()).items():
            merged.setdefault(msgid, {}).update({k: v for k, v in texts.items() if v})
    for po in sorted(ROOT.glob("translations/*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=language)
        for message in catalog:
            if message.id and not message.string and not isinstance(message.id, tuple):
                text = merged.get(message.id, {}).get(language)
                if language == "nl":
                    text = message.id  # Dutch is the source language
                if text:
                    message.string = text
                    message.flags.discard("fuzzy")
        with po.open("wb") as fh:
            write_po(fh, catalog, width=110)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{language}: {len(missing)} missing")


if __name__ == "__main__":
    main(sys.argv[1:])
