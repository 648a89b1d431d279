"""Media storage: one `Storage` interface, a local folder backend and an S3-compatible backend (boto3)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import json
import os
import stat
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from flask import current_app

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
PART_SIZE = 16 * MiB
MAX_URL_TTL = 7 * 24 * 3600  # SigV4's limit; LocalStorage keeps the same one so both backends behave alike
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_THROTTLING_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "TooManyRequests", "TooManyRequestsException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestTimeout", "InternalError", "ServiceUnavailable",
}  # fmt: skip
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_SESSION_LOCK = threading.Lock()


class StorageError(Exception):
    """A storage operation failed; `transient` says whether retrying the same call may succeed."""

    def __init__(self, message: str, *, key: str | None = None, transient: bool = False):
        super().__init__(message)
        self.key = key
        self.transient = transient


class ObjectNotFoundError(StorageError):
    """The object asked for does not exist."""

    def __init__(self, key: str):
        super().__init__(f"no object {key!r}", key=key)


@dataclass(frozen=True)
class StoredObject:
    """What an upload stored: the key, its size in bytes and the hex SHA-256 of its content."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object; `sha256` is known only when it was recorded at upload time."""

    size: int
    content_type: str
    etag: str | None
    cache_control: str | None = None
    sha256: str | None = None


def check_key(key: str, *, what: str = "key") -> str:
    """Return `key` when it is a safe relative POSIX key, else raise StorageError."""
    if not isinstance(key, str) or not key:
        raise StorageError(f"empty or non-string {what}: {key!r}", key=None)
    if key.startswith("/") or "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise StorageError(f"{what} must be relative, without backslashes or control characters: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"{what} has an empty, '.' or '..' segment: {key!r}")
    if len(key.encode()) > 1024:
        raise StorageError(f"{what} is longer than 1024 bytes: {key[:60]!r}...")
    return key


def check_prefix(prefix: str) -> str:
    """Return `prefix` when every key starting with it could be valid ('' allowed), else raise StorageError."""
    # A prefix may end mid-segment ("rec/1" matches "rec/10/a"), so check it as the start of a real key.
    if prefix:
        check_key(prefix + "x", what="prefix")
    return prefix


def _check_ttl(expires_in: int) -> int:
    if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_URL_TTL:
        raise StorageError(f"expires_in must be 1..{MAX_URL_TTL} seconds, got {expires_in!r}")
    return expires_in


def content_disposition(filename: str) -> str:
    """Build an `attachment` Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class _HashingReader:
    """A non-seekable reader over `fileobj` that counts and hashes every byte handed out."""

    def __init__(self, fileobj: BinaryIO):
        self._fileobj = fileobj
        self.size = 0
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        """Always True (s3transfer checks it)."""
        return True

    def seekable(self) -> bool:
        """Always False, so s3transfer reads parts in order and never seeks back past hashed bytes."""
        return False

    def read(self, size: int | None = -1) -> bytes:
        """Read up to `size` bytes (all when negative), filling short reads so multipart parts stay full."""
        limit = None if size is None or size < 0 else size
        chunks, got = [], 0
        while limit is None or got < limit:
            chunk = self._fileobj.read(CHUNK_SIZE if limit is None else min(limit - got, PART_SIZE))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        self.size += len(data)
        self._hash.update(data)
        return data

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything read so far."""
        return self._hash.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class Storage(ABC):
    """Keyed binary objects; keys are relative POSIX strings such as `recordings/12/hls/master.m3u8`."""

    @abstractmethod
    def put_stream(
        self, key: str, fileobj: BinaryIO, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Store everything read from `fileobj` under `key`, streaming; overwrites; verifies the size after."""

    def put_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None,
        sha256: str | None = None,
    ) -> StoredObject:
        """Store the local file at `path` under `key`; overwrites; verifies the size after.

        :param sha256: the file's hex SHA-256 when the caller has it already (saves reading the file twice).
        """
        with open(path, "rb") as fh:
            stored = self.put_stream(key, fh, content_type=content_type, cache_control=cache_control)
        if sha256 is not None and stored.sha256 != sha256.lower():
            self.delete(key)  # not the content the caller meant: store nothing rather than the wrong bytes
            raise StorageError(f"{os.fspath(path)!r} changed before it was stored as {key!r}", key=key)
        return stored

    def put_bytes(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> StoredObject:
        """Store `data` under `key`; overwrites; verifies the size after."""
        return self.put_stream(key, io.BytesIO(data), content_type=content_type, cache_control=cache_control)

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the object for reading as a binary stream; raises ObjectNotFoundError when it is missing."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Return the object's metadata, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""
        return self.head(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """All keys starting with `prefix` (a plain string prefix, as in S3), sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix` (which must not be empty); return how many."""
        if not check_prefix(prefix):
            raise StorageError("refusing to delete with an empty prefix")
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @abstractmethod
    def url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL that serves the object for `expires_in` seconds, as a download named `filename` if given."""

    def verify(self, key: str, *, size: int, sha256: str | None = None) -> ObjectInfo:
        """Check that the stored object has `size` bytes (and `sha256`); raise StorageError if not."""
        info = self.head(key)
        if info is None:
            raise ObjectNotFoundError(key)
        if info.size != size:
            raise StorageError(f"{key!r} has {info.size} bytes, expected {size}", key=key)
        if sha256 is not None and self._stored_sha256(key, info) != sha256.lower():
            raise StorageError(f"{key!r} does not have SHA-256 {sha256}", key=key)
        return info

    def _stored_sha256(self, key: str, info: ObjectInfo) -> str:
        # Fallback when no trustworthy checksum was recorded: read the object back and hash it.
        digest = hashlib.sha256()
        with self.open(key) as fh:
            while chunk := fh.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()


class LocalStorage(Storage):
    """Objects as files under `root/objects/`, their metadata as JSON under `root/meta/`, URLs signed with HMAC."""

    def __init__(self, root: str | os.PathLike, *, secret: str | bytes, url_prefix: str = "/media"):
        if not secret:
            raise StorageError("LocalStorage needs a non-empty secret to sign URLs")
        secret = secret.encode() if isinstance(secret, str) else secret
        self.root = Path(root)
        self.url_prefix = url_prefix.rstrip("/")
        # A derived key, so a media URL signature can never double as any other use of the app secret.
        self._url_key = hmac.new(secret, b"ouderkamer.storage.url", hashlib.sha256).digest()

    def path(self, key: str) -> Path:
        """The file that holds the object (it may not exist); for the view that serves signed URLs."""
        return self.root / "objects" / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / "meta" / key

    def put_stream(
        self, key: str, fileobj: BinaryIO, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Copy `fileobj` into a temp file, then rename it into place (atomic); writes a metadata file."""
        reader = _HashingReader(fileobj)
        target = self.path(key)
        with _local_errors(key):
            self._write_atomic(target, lambda out: _copy(reader, out))
            meta = {"content_type": content_type, "cache_control": cache_control, "sha256": reader.sha256}
            self._write_atomic(self._meta_path(key), lambda out: out.write(json.dumps(meta).encode()))
        stored = StoredObject(key, reader.size, reader.sha256)
        self.verify(key, size=stored.size)
        return stored

    def _write_atomic(self, target: Path, write) -> None:
        # The temp file lives in `root/tmp`, on the same filesystem as the target, so os.replace is an atomic
        # rename: a crash leaves the old object or the new one, never half of one, and list() never sees it.
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open the object's file for reading."""
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None

    def head(self, key: str) -> ObjectInfo | None:
        """Stat the file and read its metadata file (missing metadata gives defaults)."""
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            meta = {}
        return ObjectInfo(
            size=st.st_size,
            content_type=meta.get("content_type") or DEFAULT_CONTENT_TYPE,
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
            cache_control=meta.get("cache_control"),
            sha256=meta.get("sha256"),
        )

    def delete(self, key: str) -> None:
        """Remove the file and its metadata, then any folders left empty."""
        with _local_errors(key):
            for base, path in (("objects", self.path(key)), ("meta", self._meta_path(key))):
                try:
                    path.unlink()
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    continue  # like S3: deleting a key that holds no object is not an error
                self._prune(path.parent, self.root / base)

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        while folder != stop:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or a concurrent put just filled it): leave it
            folder = folder.parent

    def list(self, prefix: str = "") -> list[str]:
        """Walk the folder the prefix points into and return the matching keys, sorted."""
        objects = self.root / "objects"
        start = objects / check_prefix(prefix).rpartition("/")[0]
        keys = []
        for folder, _dirs, files in os.walk(start):
            for name in files:
                key = (Path(folder) / name).relative_to(objects).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url(self, key: str, *, expires_in: int, filename: str | None = None, now: float | None = None) -> str:
        """A `/media/<key>?expires=…&sig=…` path that `verify_signature` accepts until it expires."""
        expires = int(now if now is not None else time.time()) + _check_ttl(expires_in)
        params = {"expires": expires, "sig": self._signature(check_key(key), expires, filename)}
        if filename is not None:
            params["filename"] = filename
        return f"{self.url_prefix}/{quote(key, safe='/')}?{urlencode(params)}"

    def verify_signature(
        self, key: str, expires: int | str, sig: str, now: float | None = None, *, filename: str | None = None
    ) -> bool:
        """True when `sig` was made by `url()` for this key, expiry and filename, and it has not expired."""
        try:
            expires = int(expires)
            check_key(key)
        except (TypeError, ValueError, StorageError):
            return False
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._signature(key, expires, filename).encode(), str(sig).encode())

    def _signature(self, key: str, expires: int, filename: str | None) -> str:
        message = json.dumps([key, expires, filename]).encode()
        digest = hmac.new(self._url_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _copy(reader: _HashingReader, out: BinaryIO) -> None:
    while chunk := reader.read(CHUNK_SIZE):
        out.write(chunk)


@contextmanager
def _local_errors(key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"cannot write {key!r}: {exc}", key=key) from exc


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
        reader = _HashingReader(fileobj)
        self._upload(key, reader, content_type=content_type, cache_control=cache_control, sha256=None)
        return self._verified(StoredObject(key, reader.size, reader.sha256))

    def put_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None,
        sha256: str | None = None,
    ) -> StoredObject:
        """Hash the file (unless `sha256` is given), upload it with the hash in its metadata, then HEAD the size.

        s3transfer reads a file's parts from disk as it sends them; a stream's parts would be buffered in memory
        (up to 4 x 16 MB), which is what kept a worker's RSS growing with the size of the original.
        """
        sha256 = (sha256 or file_sha256(path)).lower()
        before = os.stat(path)
        extra = self._extra_args(content_type, cache_control, sha256)
        with _s3_errors(check_key(key)):
            if before.st_size < PART_SIZE:  # one PUT: no transfer manager and its threads for a small file
                with open(path, "rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            else:
                self.client.upload_file(os.fspath(path), self.bucket, key, ExtraArgs=extra,
                                        Config=self.transfer_config)
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise StorageError(f"{os.fspath(path)!r} changed while it was being uploaded to {key!r}", key=key)
        return self._verified(StoredObject(key, before.st_size, sha256))

    def put_bytes(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> StoredObject:
        """Upload `data` with its hash in the metadata, then HEAD to check the size."""
        sha256 = hashlib.sha256(data).hexdigest()
        reader = _HashingReader(io.BytesIO(data))
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

    def _upload(self, key: str, reader: _HashingReader, *, content_type, cache_control, sha256) -> None:
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
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=_check_ttl(expires_in))


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
