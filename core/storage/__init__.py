"""Media storage: one `Storage` interface, a local folder backend and an S3-compatible backend (boto3).

`base` holds the contract (`errors`, `keys` and `hashing` its parts), `local` and `s3` the backends;
this module picks one from the app's config.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app

from core.storage.base import DEFAULT_CONTENT_TYPE, ObjectInfo, Storage, StoredObject
from core.storage.errors import ObjectNotFoundError, StorageError
from core.storage.hashing import CHUNK_SIZE, PART_SIZE, MiB, file_sha256
from core.storage.keys import MAX_URL_TTL, check_key, check_prefix, content_disposition
from core.storage.local import LocalStorage
from core.storage.s3 import S3Storage

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "MAX_URL_TTL",
    "PART_SIZE",
    "LocalStorage",
    "MiB",
    "ObjectInfo",
    "ObjectNotFoundError",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredObject",
    "check_key",
    "check_prefix",
    "content_disposition",
    "file_sha256",
    "get_storage",
    "settings_from_config",
]


def settings_from_config(config: Mapping) -> Storage:
    """Build the storage backend a config mapping asks for: S3Storage when S3_BUCKET is set, else LocalStorage."""
    if config.get("S3_BUCKET"):
        return S3Storage(
            config["S3_BUCKET"],
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region_name=config.get("S3_REGION"),
            access_key_id=config.get("S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
            addressing_style=config.get("S3_ADDRESSING_STYLE") or "path",
        )
    if not config.get("MEDIA_ROOT"):
        raise StorageError("MEDIA_ROOT must be set when S3_BUCKET is not")
    return LocalStorage(config["MEDIA_ROOT"], secret=config.get("SECRET_KEY") or "")


def get_storage() -> Storage:
    """The app's storage backend, built from its config on first use and kept in `app.extensions`."""
    extensions = current_app.extensions
    if "storage" not in extensions:
        extensions["storage"] = settings_from_config(current_app.config)
    return extensions["storage"]
