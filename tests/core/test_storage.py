"""Contract tests for core.storage, run against LocalStorage and against S3Storage on moto over HTTP."""

import hashlib
import random
import socket
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from flask import Flask

from core.storage import (
    PART_SIZE,
    LocalStorage,
    ObjectNotFoundError,
    S3Storage,
    StorageError,
    StoredObject,
    content_disposition,
    get_storage,
    settings_from_config,
)

MiB = 1024 * 1024
SECRET = "test-secret-for-media-urls"
BAD_KEYS = [
    "",
    "../etc/passwd",
    "a/../../b",
    "/abs/key",
    "a\\b",
    "a\x00b",
    "a//b",
    "./a",
    "a/",
    "a/.",
    "a\nb",
]


class GeneratedStream:
    """A readable, non-seekable stream of `size` pseudo-random bytes that records what it handed out."""

    def __init__(self, size: int, seed: int = 7):
        self._left = size
        self._random = random.Random(seed)
        self._hash = hashlib.sha256()
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._random.randbytes(size)
        self._left -= size
        self.largest_read = max(self.largest_read, size)
        self._hash.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.unit), pytest.param("s3", marks=pytest.mark.adapter)])
def storage(request, tmp_path):
    """Each contract test runs once on LocalStorage (tmp folder) and once on S3Storage (moto)."""
    if request.param == "local":
        return LocalStorage(tmp_path / "media", secret=SECRET)
    return request.getfixturevalue("s3_storage")


@pytest.fixture
def local_storage(tmp_path):
    return LocalStorage(tmp_path / "media", secret=SECRET)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- contract: both backends ------------------------------------------------------------------------------


def test_put_bytes_round_trip_returns_exact_bytes_and_sha256(storage):
    data = bytes(range(256)) * 40

    stored = storage.put_bytes("recordings/1/poster.jpg", data, content_type="image/jpeg")

    assert stored == StoredObject("recordings/1/poster.jpg", 10240, hashlib.sha256(data).hexdigest())
    with storage.open("recordings/1/poster.jpg") as fh:
        assert fh.read() == data
    assert storage.head("recordings/1/poster.jpg").size == 10240


def test_put_file_stores_content_type_cache_control_and_sha256(storage, tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42" * 100)
    expected_sha = hashlib.sha256(source.read_bytes()).hexdigest()

    stored = storage.put_file(
        "recordings/2/clip.mp4", source, content_type="video/mp4", cache_control="private, max-age=3600"
    )
    info = storage.head("recordings/2/clip.mp4")

    assert stored == StoredObject("recordings/2/clip.mp4", 1200, expected_sha)
    assert (info.size, info.content_type, info.cache_control, info.sha256) == (
        1200,
        "video/mp4",
        "private, max-age=3600",
        expected_sha,
    )


def test_adopt_file_stores_the_file_and_takes_it(storage, tmp_path):
    source = tmp_path / "work" / "media.mp4"
    source.parent.mkdir()
    source.write_bytes(b"\x00\x00\x00\x18ftypiso6" * 300)
    expected = StoredObject("recordings/2/first/media.mp4", 3600, hashlib.sha256(source.read_bytes()).hexdigest())
    inode = source.stat().st_ino

    stored = storage.adopt_file(expected.key, source, content_type="video/mp4", cache_control="private, immutable")

    info = storage.head(expected.key)
    assert stored == expected and not source.exists()
    assert (info.size, info.content_type, info.cache_control, info.sha256) == (
        3600, "video/mp4", "private, immutable", expected.sha256)
    if isinstance(storage, LocalStorage):  # moved into place on the same filesystem, not copied
        assert storage.path(expected.key).stat().st_ino == inode


def test_put_stream_reads_in_bounded_chunks(storage):
    source = GeneratedStream(3 * MiB)

    stored = storage.put_stream("recordings/3/original.webm", source, content_type="video/webm")

    assert stored == StoredObject("recordings/3/original.webm", 3 * MiB, source.sha256)
    assert source.largest_read <= PART_SIZE
    assert storage.verify("recordings/3/original.webm", size=3 * MiB, sha256=source.sha256).size == 3 * MiB


def test_put_bytes_overwrites_existing_object(storage):
    storage.put_bytes("a/b.txt", b"old content", content_type="text/plain")

    storage.put_bytes("a/b.txt", b"new", content_type="text/csv")

    with storage.open("a/b.txt") as fh:
        assert fh.read() == b"new"
    assert storage.head("a/b.txt").content_type == "text/csv"


def test_head_of_missing_key_returns_none(storage):
    assert storage.head("nothing/here") is None
    assert storage.exists("nothing/here") is False


def test_open_of_missing_key_raises_not_found(storage):
    with pytest.raises(ObjectNotFoundError) as caught:
        storage.open("nothing/here")

    assert caught.value.key == "nothing/here"


def test_verify_accepts_matching_size_and_sha256(storage):
    stored = storage.put_bytes("v/ok.bin", b"12345", content_type="application/octet-stream")

    info = storage.verify("v/ok.bin", size=5, sha256=stored.sha256)

    assert (info.size, info.content_type) == (5, "application/octet-stream")


@pytest.mark.parametrize(("size", "sha256"), [(6, None), (5, "0" * 64)])
def test_verify_rejects_wrong_size_or_sha256(storage, size, sha256):
    storage.put_bytes("v/bad.bin", b"12345", content_type="application/octet-stream")

    with pytest.raises(StorageError) as caught:
        storage.verify("v/bad.bin", size=size, sha256=sha256)

    assert (caught.value.key, caught.value.transient) == ("v/bad.bin", False)


def test_verify_of_missing_key_raises_not_found(storage):
    with pytest.raises(ObjectNotFoundError):
        storage.verify("v/missing.bin", size=1)


def test_delete_removes_object_and_is_idempotent(storage):
    storage.put_bytes("d/x.txt", b"x", content_type="text/plain")

    storage.delete("d/x.txt")
    storage.delete("d/x.txt")

    assert storage.exists("d/x.txt") is False
    assert storage.list("d/") == []


def test_list_matches_plain_string_prefix(storage):
    for key in ["rec/1/a", "rec/1/b/c", "rec/10/a", "rec/2/a"]:
        storage.put_bytes(key, b"x", content_type="text/plain")

    assert storage.list("rec/1") == ["rec/1/a", "rec/1/b/c", "rec/10/a"]
    assert storage.list("") == ["rec/1/a", "rec/1/b/c", "rec/10/a", "rec/2/a"]


def test_delete_prefix_removes_exactly_the_prefix(storage):
    for key in ["rec/1/a", "rec/1/b/c", "rec/10/a", "rec/2/a"]:
        storage.put_bytes(key, b"x", content_type="text/plain")

    deleted = storage.delete_prefix("rec/1/")

    assert deleted == 2
    assert storage.list("") == ["rec/10/a", "rec/2/a"]


def test_delete_of_a_folder_like_key_deletes_nothing(storage):
    storage.put_bytes("rec/1/a", b"x", content_type="text/plain")

    storage.delete("rec/1")

    assert storage.list("") == ["rec/1/a"]


@pytest.mark.parametrize("prefix", ["", "../", "/rec"])
def test_delete_prefix_rejects_empty_or_unsafe_prefix(storage, prefix):
    storage.put_bytes("rec/1/a", b"x", content_type="text/plain")

    with pytest.raises(StorageError):
        storage.delete_prefix(prefix)

    assert storage.list("") == ["rec/1/a"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_rejected_by_every_method(storage, key):
    calls = [
        lambda: storage.put_bytes(key, b"x", content_type="text/plain"),
        lambda: storage.open(key),
        lambda: storage.head(key),
        lambda: storage.delete(key),
        lambda: storage.url(key, expires_in=60),
    ]

    for call in calls:
        with pytest.raises(StorageError):
            call()


@pytest.mark.parametrize("expires_in", [0, -5, 7 * 24 * 3600 + 1])
def test_url_rejects_ttl_out_of_range(storage, expires_in):
    with pytest.raises(StorageError):
        storage.url("a/b.mp4", expires_in=expires_in)


# --- S3 only: multipart, presigned URLs, privacy, errors ------------------------------------------------


@pytest.mark.adapter
def test_s3_put_stream_of_40_mb_uploads_in_parallel_parts(s3_storage):
    source = GeneratedStream(40 * MiB)

    stored = s3_storage.put_stream("recordings/4/original.mp4", source, content_type="video/mp4")
    info = s3_storage.verify("recordings/4/original.mp4", size=40 * MiB, sha256=source.sha256)

    assert stored == StoredObject("recordings/4/original.mp4", 40 * MiB, source.sha256)
    assert info.etag.endswith("-3")  # 16 + 16 + 8 MiB
    assert source.largest_read <= PART_SIZE


@pytest.mark.adapter
def test_s3_presigned_url_serves_the_bytes_as_a_named_download(s3_storage):
    data = b"hello parents" * 100
    s3_storage.put_bytes("recordings/5/les.mp4", data, content_type="video/mp4")

    url = s3_storage.url("recordings/5/les.mp4", expires_in=600, filename="Les 1 – ouders.mp4")
    response = requests.get(url, timeout=10)

    assert response.status_code == 200
    assert response.content == data
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]
    assert response.headers["Content-Disposition"] == content_disposition("Les 1 – ouders.mp4")


@pytest.mark.adapter
def test_s3_unsigned_get_is_forbidden(s3_storage, s3_server, s3_bucket):
    s3_storage.put_bytes("recordings/6/les.mp4", b"private", content_type="video/mp4")

    response = requests.get(f"{s3_server}/{s3_bucket}/recordings/6/les.mp4", timeout=10)

    assert response.status_code == 403


@pytest.mark.adapter
def test_s3_presigned_range_get_returns_partial_content(s3_storage):
    data = bytes(range(100))
    s3_storage.put_bytes("recordings/7/les.mp4", data, content_type="video/mp4")

    response = requests.get(
        s3_storage.url("recordings/7/les.mp4", expires_in=60), headers={"Range": "bytes=10-19"}, timeout=10
    )

    assert response.status_code == 206
    assert response.content == data[10:20]
    assert response.headers["Content-Range"] == "bytes 10-19/100"


@pytest.mark.unit
def test_s3_unreachable_server_raises_transient_error():
    storage = S3Storage(
        "ouderkamer-test",
        endpoint_url=f"http://127.0.0.1:{_free_port()}",
        region_name="eu-central-1",
        access_key_id="k",
        secret_access_key="s",
        max_attempts=1,
        connect_timeout=2,
    )

    for call in (
        lambda: storage.put_bytes("a/b", b"x", content_type="text/plain"),
        lambda: storage.head("a/b"),
        lambda: storage.list("a/"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        assert caught.value.transient is True


@pytest.mark.adapter
def test_s3_missing_bucket_raises_permanent_error(s3_config):
    storage = settings_from_config({**s3_config, "S3_BUCKET": "no-such-bucket"})

    with pytest.raises(StorageError) as caught:
        storage.put_bytes("a/b", b"x", content_type="text/plain")

    assert (caught.value.key, caught.value.transient) == ("a/b", False)
    assert "NoSuchBucket" in str(caught.value)


# --- LocalStorage only: signed URLs, atomic writes --------------------------------------------------------


@pytest.mark.unit
def test_local_url_is_a_signed_media_path(local_storage):
    url = local_storage.url("recordings/8/les 1.mp4", expires_in=60, filename="Les 1.mp4", now=1_000_000)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/media/recordings/8/les%201.mp4"
    assert (query["expires"], query["filename"]) == (["1000060"], ["Les 1.mp4"])
    assert local_storage.verify_signature(
        unquote(parts.path.removeprefix("/media/")),
        query["expires"][0],
        query["sig"][0],
        now=1_000_059,
        filename="Les 1.mp4",
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("key", "expires", "sig_suffix", "now", "filename"),
    [
        ("recordings/9/other.mp4", "1000060", "", 1_000_000, None),  # another key
        ("recordings/9/les.mp4", "1000061", "", 1_000_000, None),  # extended expiry
        ("recordings/9/les.mp4", "1000060", "x", 1_000_000, None),  # tampered signature
        ("recordings/9/les.mp4", "1000060", "é", 1_000_000, None),  # non-ASCII garbage in the signature
        ("recordings/9/les.mp4", "1000060", "", 1_000_061, None),  # expired
        ("recordings/9/les.mp4", "1000060", "", 1_000_000, "evil.exe"),  # filename added
        ("recordings/9/les.mp4", "soon", "", 1_000_000, None),  # garbage expiry
        ("../9/les.mp4", "1000060", "", 1_000_000, None),  # unsafe key
    ],
)
def test_local_verify_signature_rejects_altered_or_expired_urls(local_storage, key, expires, sig_suffix, now, filename):
    url = local_storage.url("recordings/9/les.mp4", expires_in=60, now=1_000_000)
    sig = parse_qs(urlsplit(url).query)["sig"][0]

    accepted = local_storage.verify_signature(key, expires, sig + sig_suffix, now=now, filename=filename)

    assert accepted is False


@pytest.mark.unit
def test_local_signature_from_another_secret_is_rejected(tmp_path, local_storage):
    other = LocalStorage(tmp_path / "media", secret="a different secret")
    sig = parse_qs(urlsplit(other.url("a/b.mp4", expires_in=60, now=0)).query)["sig"][0]

    assert local_storage.verify_signature("a/b.mp4", 60, sig, now=0) is False


@pytest.mark.unit
def test_local_failed_write_keeps_previous_object_and_leaves_no_temp_file(local_storage, tmp_path):
    local_storage.put_bytes("a/b.bin", b"version one", content_type="application/octet-stream")

    class Broken:
        def __init__(self):
            self.calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset by peer")
            return b"y" * 1000

    with pytest.raises(StorageError):
        local_storage.put_stream("a/b.bin", Broken(), content_type="application/octet-stream")

    with local_storage.open("a/b.bin") as fh:
        assert fh.read() == b"version one"
    assert list((tmp_path / "media" / "tmp").iterdir()) == []


@pytest.mark.unit
def test_local_path_points_inside_the_objects_folder(local_storage, tmp_path):
    assert local_storage.path("a/b.mp4") == tmp_path / "media" / "objects" / "a" / "b.mp4"


# --- configuration --------------------------------------------------------------------------------------


@pytest.mark.adapter
def test_settings_from_config_picks_s3_when_bucket_set(s3_config):
    storage = settings_from_config(s3_config)

    assert isinstance(storage, S3Storage)
    assert storage.bucket == "ouderkamer-test"
    assert storage.client.meta.endpoint_url == s3_config["S3_ENDPOINT_URL"]
    assert storage.client.meta.region_name == "eu-central-1"


@pytest.mark.unit
def test_settings_from_config_picks_local_without_bucket(tmp_path):
    storage = settings_from_config({"S3_BUCKET": None, "MEDIA_ROOT": str(tmp_path), "SECRET_KEY": SECRET})

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path


@pytest.mark.unit
@pytest.mark.parametrize(
    "config",
    [
        {"MEDIA_ROOT": "/tmp/media", "SECRET_KEY": ""},
        {"MEDIA_ROOT": "", "SECRET_KEY": SECRET},
        {"S3_BUCKET": "b", "S3_REGION": "eu-central-1", "S3_ADDRESSING_STYLE": "sideways"},
    ],
)
def test_settings_from_config_rejects_incomplete_config(config):
    with pytest.raises(StorageError):
        settings_from_config(config)


@pytest.mark.unit
def test_get_storage_builds_once_per_app(tmp_path):
    app = Flask("storage-test")
    app.config.update(MEDIA_ROOT=str(tmp_path), SECRET_KEY=SECRET, S3_BUCKET=None)

    with app.app_context():
        first = get_storage()
        second = get_storage()

    assert first is second
    assert app.extensions["storage"] is first
    assert isinstance(first, LocalStorage)



@pytest.mark.adapter
def test_s3_put_file_of_40_mb_sends_parts_read_from_disk_in_small_pieces(s3_storage, tmp_path, monkeypatch):
    from core.storage import s3

    path = tmp_path / "fallback.mp4"
    with open(path, "wb") as fh:
        for _ in range(40):
            fh.write(random.randbytes(MiB))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    reads = []

    class Spy:
        def __init__(self, fh):
            self._fh = fh

        def read(self, size=-1):
            data = self._fh.read(size)
            reads.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._fh.close()

    monkeypatch.setattr(s3, "open", lambda *args, **kwargs: Spy(open(*args, **kwargs)), raising=False)

    stored = s3_storage.put_file("recordings/4/fallback.mp4", path, content_type="video/mp4", sha256=digest)
    info = s3_storage.verify("recordings/4/fallback.mp4", size=40 * MiB, sha256=digest)

    assert stored == StoredObject("recordings/4/fallback.mp4", 40 * MiB, digest)
    assert info.etag.endswith("-3")  # 16 + 16 + 8 MiB
    assert sum(reads) >= 40 * MiB and max(reads) <= 64 * 1024  # no part, nor a 1 MiB piece of one, in memory
