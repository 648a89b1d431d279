#!/bin/sh
# Jibri finalize script for Ouderkamer (docs/jibri.md): hand the recording to the app, then remove the folder.
#
# Jibri runs it with one argument, the session's recording folder, and waits for it. We stream the MP4 and
# metadata.json to POST /api/v1/jibri/recordings with curl, exit 0 only once the app has confirmed (201 new,
# 200 already received), and only then delete the folder. Running it twice is safe: the folder name is sent
# as `ref`, and the app answers 200 with the same recording the second time.
#
# Settings (environment, or a file named by OUDERKAMER_ENV_FILE with the same variables):
#   OUDERKAMER_URL          e.g. https://ouderkamer.example.org
#   OUDERKAMER_TOKEN        an API token of a coordinator (or OUDERKAMER_TOKEN_FILE: a file holding it)
#   OUDERKAMER_KEEP=1       keep the folder after a confirmed hand-off
set -eu

DIR="${1:?usage: finalize.sh <recording folder>}"
if [ -n "${OUDERKAMER_ENV_FILE:-}" ]; then
    # shellcheck disable=SC1090
    . "$OUDERKAMER_ENV_FILE"
fi
URL="${OUDERKAMER_URL:?OUDERKAMER_URL is not set}"
if [ -z "${OUDERKAMER_TOKEN:-}" ] && [ -n "${OUDERKAMER_TOKEN_FILE:-}" ]; then
    OUDERKAMER_TOKEN=$(cat "$OUDERKAMER_TOKEN_FILE")
fi
TOKEN="${OUDERKAMER_TOKEN:?OUDERKAMER_TOKEN (or OUDERKAMER_TOKEN_FILE) is not set}"

log() { echo "ouderkamer-finalize: $*" >&2; }

MP4=$(find "$DIR" -maxdepth 1 -type f -name '*.mp4' | sort | head -n 1)
if [ -z "$MP4" ]; then
    log "no .mp4 in $DIR; nothing to hand over"
    exit 1
fi
META="$DIR/metadata.json"
if [ ! -f "$META" ]; then
    log "no metadata.json in $DIR; the app cannot tell which session this is"
    exit 1
fi
SHA=$(sha256sum "$MP4" | cut -d ' ' -f 1)
REF=$(basename "$DIR")
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

STATUS=$(curl --silent --show-error --output "$BODY" --write-out '%{http_code}' \
    --retry 5 --retry-delay 10 --retry-all-errors --connect-timeout 20 \
    -H "Authorization: Bearer $TOKEN" \
    -F "ref=$REF" -F "sha256=$SHA" \
    -F "metadata=@$META;type=application/json" \
    -F "file=@$MP4;type=video/mp4" \
    "${URL%/}/api/v1/jibri/recordings") || STATUS=000

case "$STATUS" in
    200|201)
        log "handed over $MP4 ($SHA): $(cat "$BODY")"
        if [ "${OUDERKAMER_KEEP:-0}" != "1" ]; then
            rm -rf "$DIR"
        fi
        exit 0
        ;;
    *)
        log "hand-off of $MP4 failed with HTTP $STATUS: $(cat "$BODY")"
        exit 1
        ;;
esac
