#!/usr/bin/env bash
# Re-extract the Dutch message ids, update every catalogue, fill new entries from JSON files given as arguments
# ({"<Dutch msgid>": {"en": ..., "ar": ..., "tr": ...}}), compile, and print what each catalogue still lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot \
  --ignore-dirs=".venv node_modules tests migrations bench scripts" . >/dev/null 2>&1
$BIN/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete >/dev/null 2>&1
$BIN/python scripts/fill_catalogues.py "$@"
$BIN/pybabel compile -d translations >/dev/null 2>&1
