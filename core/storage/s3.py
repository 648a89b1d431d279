"""The S3 backend: a shared boto3 session, multipart uploads, presigned GETs, botocore errors as StorageError."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from core.storage.base import DEFAULT_CONTENT_TYPE, ObjectInfo, Storage, StoredObject
from core.storage.errors import ObjectNotFoundError, StorageError
from core.storage.hashing import CHUNK_SIZE, PART_SIZE, FileSlice, HashingReader, SmallReads, file_sha256
from core.storage.keys import check_key, check_prefix, check_ttl, content_disposition

_THROTTLING_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "TooManyRequests", "TooManyRequestsException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestTimeout", "InternalError", "ServiceUnavailable",
}  # fmt: skip
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_SESSION_LOCK = threading.Lock()


class S3Storage(Storage):
    """Objects in a private bucket of any S3-compatible store, through boto3; URLs are presigned GETs."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "path",
        max_attempts: int = 5,
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ):
        if addressing_style not in ("path", "virtual"):
            raise StorageError(f"addressing_style must be 'path' or 'virtual', got {addressing_style!r}")
        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=16,
            # Many S3-compatible stores reject boto3's default CRC trailers; send checksums only where required.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # None keys fall through to boto3's own chain (environment, profile, instance role).
        self.client = _new_client(
            endpoint_url=endpoint_url or None,
            region_name=region_name or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )
        self.transfer_config = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=4,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        # s3transfer buffers up to this many parts of a non-seekable stream; 4 keeps one upload near 128 MB.
        self.transfer_config.max_in_memory_upload_chunks = 4

    def put_stream(
        self, key: str, fileobj: BinaryIO, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Upload from `fileobj` (multipart above 16 MB, 4 parts in parallel); then HEAD to check the size."""
        reader = HashingReader(fileobj)
        self._upload(key, reader, content_type=content_type, cache_control=cache_control, sha256=None)
        return self._verified(StoredObject(key, reader.size, reader.sha256))

    def put_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None,
        sha256: str | None = None,
    ) -> StoredObject:
        """Hash the file (unless `sha256` is given), upload it with the hash in its metadata, then HEAD the size.

        The file is read from disk in small pieces as it is sent (one PUT, or 16 MB parts one after the other):
        no buffer grows with the file, so several uploads at once keep a worker's RSS flat. A stream's parts would
        be buffered in memory (up to 4 x 16 MB), which is what kept a worker's RSS growing with the original.
        """
        sha256 = (sha256 or file_sha256(path)).lower()
        before = os.stat(path)
        extra = self._extra_args(content_type, cache_control, sha256)
        with _s3_errors(check_key(key)):
            if before.st_size < PART_SIZE:  # one PUT: no transfer manager and its threads for a small file
                with open(path, "rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=SmallReads(body), **extra)
            else:
                self._put_parts(key, path, before.st_size, extra)
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise StorageError(f"{os.fspath(path)!r} changed while it was being uploaded to {key!r}", key=key)
        return self._verified(StoredObject(key, before.st_size, sha256))

    def _put_parts(self, key: str, path: str | os.PathLike, size: int, extra: dict) -> None:
        # One part after the other, each read from disk in small pieces as it is sent: the memory of an upload
        # stays the same whatever the file's size (s3transfer's threads each buffered a part's reads).
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
        parts = []
        try:
            with open(path, "rb") as fh:
                for number, start in enumerate(range(0, size, PART_SIZE), start=1):
                    length = min(PART_SIZE, size - start)
                    answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                     PartNumber=number, ContentLength=length,
                                                     Body=FileSlice(fh, start, length))
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def put_bytes(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> StoredObject:
        """Upload `data` with its hash in the metadata, then HEAD to check the size."""
        sha256 = hashlib.sha256(data).hexdigest()
        reader = HashingReader(io.BytesIO(data))
        self._upload(key, reader, content_type=content_type, cache_control=cache_control, sha256=sha256)
        return self._verified(StoredObject(key, len(data), sha256))

    @staticmethod
    def _extra_args(content_type: str, cache_control: str | None, sha256: str | None) -> dict:
        extra = {"ContentType": content_type}
        if cache_control:
            extra["CacheControl"] = cache_control
        if sha256:
            # Only known up front for files and bytes; a stream's hash exists only after its last part is sent.
            extra["Metadata"] = {"sha256": sha256}
        return extra

    def _upload(self, key: str, reader: HashingReader, *, content_type, cache_control, sha256) -> None:
        extra = self._extra_args(content_type, cache_control, sha256)
        with _s3_errors(check_key(key)):
            self.client.upload_fileobj(reader, self.bucket, key, ExtraArgs=extra, Config=self.transfer_config)

    def _verified(self, stored: StoredObject) -> StoredObject:
        self.verify(stored.key, size=stored.size)
        return stored

    def open(self, key: str) -> BinaryIO:
        """GET the object and return its body as a buffered stream (read errors become StorageError)."""
        with _s3_errors(check_key(key)):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_BodyReader(body, key), buffer_size=CHUNK_SIZE)

    def head(self, key: str) -> ObjectInfo | None:
        """HEAD the object (one request); None when it does not exist."""
        try:
            with _s3_errors(check_key(key)):
                meta = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ObjectNotFoundError:
            return None
        return ObjectInfo(
            size=meta["ContentLength"],
            content_type=meta.get("ContentType") or DEFAULT_CONTENT_TYPE,
            etag=(meta.get("ETag") or "").strip('"') or None,
            cache_control=meta.get("CacheControl"),
            sha256=meta.get("Metadata", {}).get("sha256") or _full_object_sha256(meta),
        )

    def _stored_sha256(self, key: str, info: ObjectInfo) -> str:
        # Streams carry no recorded hash, so those are read back and hashed (one GET, in chunks).
        return info.sha256 or super()._stored_sha256(key, info)

    def delete(self, key: str) -> None:
        """DELETE the object (S3 answers 204 for a missing key too)."""
        with _s3_errors(check_key(key)):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str = "") -> list[str]:
        """List the keys under `prefix`, following pagination."""
        keys = []
        with _s3_errors(None):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=check_prefix(prefix)
            )
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the (non-empty) prefix, 1,000 keys per request; return how many."""
        if not check_prefix(prefix):
            raise StorageError("refusing to delete with an empty prefix")
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            with _s3_errors(None):
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"could not delete {len(answer['Errors'])} objects, e.g. {first.get('Key')!r}: "
                    f"{first.get('Code')} {first.get('Message')}",
                    key=first.get("Key"),
                )
        return len(keys)

    def url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A presigned GET URL valid for `expires_in` seconds (no network call)."""
        params = {"Bucket": self.bucket, "Key": check_key(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with _s3_errors(key):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=check_ttl(expires_in))


@functools.cache
def _boto_session() -> boto3.session.Session:
    return boto3.session.Session()


def _new_client(**kwargs):
    # One shared session keeps the parsed S3 service model (a fresh session spends ~0.2 s re-reading it);
    # the lock because a session is not thread-safe, while the clients it makes are.
    with _SESSION_LOCK:
        return _boto_session().client("s3", **kwargs)


def _full_object_sha256(meta: Mapping) -> str | None:
    # A multipart upload's ChecksumSHA256 is a checksum of part checksums (moto omits S3's "-N" marker),
    # so only a single-part object's value is the content's SHA-256.
    value = meta.get("ChecksumSHA256")
    multipart = meta.get("ChecksumType") == "COMPOSITE" or "-" in (meta.get("ETag") or "")
    if not value or multipart:
        return None
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        return None


class _BodyReader(io.RawIOBase):
    """A raw stream over a botocore response body that raises StorageError instead of botocore errors."""

    def __init__(self, body, key: str):
        self._body = body
        self._key = key

    def readable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, buffer) -> int:
        """Read the next bytes of the body into `buffer`; 0 at the end."""
        with _s3_errors(self._key):
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the body, releasing its connection."""
        self._body.close()
        super().close()


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or exc.response.get("Error", {}).get("Code") in _THROTTLING_CODES
    return False


@contextmanager
def _s3_errors(key: str | None) -> Iterator[None]:
    try:
        yield
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        boto3.exceptions.Boto3Error,
    ) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if key is not None and code in _NOT_FOUND_CODES:
            raise ObjectNotFoundError(key) from exc
        raise StorageError(f"S3 error ({key or 'no key'}): {exc}", key=key, transient=_is_transient(exc)) from exc
