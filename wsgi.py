"""Entry point for flask, gunicorn and huey_consumer: `app`, and `huey` for the worker."""

import sys
from pathlib import Path

from dotenv import load_dotenv

# Before any app import: the queue module reads REDIS_URL when it is imported.
load_dotenv(Path(__file__).with_name(".env"), override=False)

from core.config import ConfigError  # noqa: E402

try:
    from core.app import create_app  # noqa: E402
    from core.queue import huey  # noqa: E402,F401

    app = create_app()
except ConfigError as exc:
    print(f"ouderkamer: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
