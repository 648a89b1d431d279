"""How many S3 requests publishing costs (issue 10: bench/publish.py showed a HEAD before and two after each PUT)."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from core.storage import StorageError
from recordings import publish


def _count_requests(storage) -> Counter:
    calls: Counter = Counter()
    storage.client.meta.events.register("before-call.s3", lambda model, **_kw: calls.update([model.name]))
    return calls


def test_first_publish_lists_once_then_puts_and_heads_each_file_once(s3_storage, use_storage,
                                                                      create_transcoded_recording, transcoded):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    calls = _count_requests(s3_storage)

    uploaded = publish.publish_recording(recording, storage=s3_storage)

    files = len(transcoded.files)
    assert uploaded == files
    assert calls == Counter({"ListObjectsV2": 1, "PutObject": files, "HeadObject": files})


def test_put_file_with_a_known_sha256_stores_it_and_checks_the_size(s3_storage, tmp_path):
    path = tmp_path / "seg.m4s"
    path.write_bytes(b"segment" * 1000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    calls = _count_requests(s3_storage)

    stored = s3_storage.put_file("rec/seg.m4s", path, content_type="video/iso.segment", sha256=digest.upper())

    assert (stored.size, stored.sha256) == (7000, digest)
    assert s3_storage.head("rec/seg.m4s").sha256 == digest
    assert calls == Counter({"PutObject": 1, "HeadObject": 2})  # the upload's size check, then ours


def test_local_put_file_with_a_sha256_the_file_no_longer_has_stores_nothing(local_storage, tmp_path):
    path = tmp_path / "seg.m4s"
    path.write_bytes(b"changed after hashing")

    with pytest.raises(StorageError) as error:
        local_storage.put_file("rec/seg.m4s", path, content_type="video/iso.segment", sha256="0" * 64)

    assert error.value.key == "rec/seg.m4s"
    assert local_storage.head("rec/seg.m4s") is None
