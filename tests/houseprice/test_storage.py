"""The same contract, run against the local backend and against GCS (fake-gcs-server)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from houseprice.storage import Bucket, GenerationMismatch, ObjectNotFound, open_bucket


@pytest.fixture(params=["local", "file-url", "gcs"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bucket]:
    if request.param == "local":
        yield open_bucket(str(tmp_path / "bucket"))
    elif request.param == "file-url":
        yield open_bucket((tmp_path / "bucket").as_uri())
    else:
        request.getfixturevalue("gcs_emulator")
        from houseprice.storage.gcs import make_client

        name = f"test-{uuid.uuid4().hex[:12]}"
        make_client().create_bucket(name)
        yield open_bucket(f"gs://{name}/some/prefix")


def test_write_then_read_round_trips_bytes(bucket: Bucket) -> None:
    bucket.write_bytes("a/b.csv", b"x,y\n1,2\n")
    assert bucket.read_bytes("a/b.csv") == b"x,y\n1,2\n"
    assert bucket.read_text("a/b.csv") == "x,y\n1,2\n"


def test_overwrite_replaces_whole_object(bucket: Bucket) -> None:
    bucket.write_text("k.txt", "first version, longer")
    bucket.write_text("k.txt", "second")
    assert bucket.read_text("k.txt") == "second"


def test_list_is_sorted_and_filtered_by_prefix(bucket: Bucket) -> None:
    for key in ["versioned/v2/train.csv", "versioned/v1/train.csv", "instream/c1.csv", "raw.csv"]:
        bucket.write_bytes(key, b"1")
    assert bucket.list("versioned/") == ["versioned/v1/train.csv", "versioned/v2/train.csv"]
    assert bucket.list() == sorted(
        ["instream/c1.csv", "raw.csv", "versioned/v1/train.csv", "versioned/v2/train.csv"]
    )
    assert bucket.list("nothing/") == []


def test_missing_object_raises_object_not_found(bucket: Bucket) -> None:
    with pytest.raises(ObjectNotFound):
        bucket.read_bytes("absent.csv")
    assert not bucket.exists("absent.csv")


def test_delete_is_idempotent(bucket: Bucket) -> None:
    bucket.write_bytes("gone.csv", b"1")
    assert bucket.exists("gone.csv")
    bucket.delete("gone.csv")
    bucket.delete("gone.csv")
    assert not bucket.exists("gone.csv")
    assert bucket.list() == []


def test_move_copies_then_removes(bucket: Bucket) -> None:
    bucket.write_bytes("in/a.csv", b"data")
    bucket.move("in/a.csv", "archive/a.csv")
    assert bucket.list() == ["archive/a.csv"]
    assert bucket.read_bytes("archive/a.csv") == b"data"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_keys_that_could_escape_are_refused(bucket: Bucket, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        bucket.write_bytes(key, b"1")


def test_local_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    bucket = open_bucket(str(tmp_path))
    bucket.write_bytes("x/y.csv", b"1")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["y.csv"]


# -- generations: conditional reads, writes and deletes ------------------------------------


def test_every_write_gives_a_new_generation(bucket: Bucket) -> None:
    first = bucket.write_bytes("g.csv", b"one")
    second = bucket.write_bytes("g.csv", b"two, longer")
    assert first != second
    info = bucket.stat("g.csv")
    assert (info.key, info.size, info.generation) == ("g.csv", 11, second)
    assert [i.generation for i in bucket.list_info("g")] == [second]


def test_read_by_generation_refuses_a_replaced_object(bucket: Bucket) -> None:
    old = bucket.write_bytes("r.csv", b"old")
    new = bucket.write_bytes("r.csv", b"new")
    assert bucket.read_bytes("r.csv", new) == b"new"
    with pytest.raises(GenerationMismatch):
        bucket.read_bytes("r.csv", old)


def test_conditional_delete_keeps_a_reupload(bucket: Bucket) -> None:
    old = bucket.write_bytes("d.csv", b"first upload")
    bucket.write_bytes("d.csv", b"second upload")
    with pytest.raises(GenerationMismatch):
        bucket.delete("d.csv", if_generation=old)
    assert bucket.read_bytes("d.csv") == b"second upload"
    bucket.delete("d.csv", if_generation=bucket.stat("d.csv").generation)
    assert not bucket.exists("d.csv")
    bucket.delete("d.csv", if_generation=old)  # absent: nothing to do


def test_create_never_replaces(bucket: Bucket) -> None:
    generation = bucket.create("c.json", b"mine")
    with pytest.raises(GenerationMismatch):
        bucket.create("c.json", b"theirs")
    assert bucket.read_bytes("c.json") == b"mine"
    assert bucket.stat("c.json").generation == generation


def test_conditional_write_only_over_the_named_generation(bucket: Bucket) -> None:
    first = bucket.create("w.json", b"1")
    second = bucket.write_bytes("w.json", b"2", if_generation=first)
    with pytest.raises(GenerationMismatch):
        bucket.write_bytes("w.json", b"3", if_generation=first)
    assert bucket.read_bytes("w.json", second) == b"2"


def test_stat_of_a_missing_object(bucket: Bucket) -> None:
    with pytest.raises(ObjectNotFound):
        bucket.stat("nothing.csv")


def test_local_read_by_generation_sees_an_in_place_rewrite(tmp_path: Path) -> None:
    """A writer that rewrites the same file (same inode) still changes its generation."""
    bucket = open_bucket(str(tmp_path))
    path = tmp_path / "live.csv"
    path.write_bytes(b"a,b\n")
    listed = bucket.stat("live.csv").generation
    time.sleep(0.02)
    with open(path, "ab") as handle:
        handle.write(b"1,2\n")
    with pytest.raises(GenerationMismatch):
        bucket.read_bytes("live.csv", listed)
    with pytest.raises(GenerationMismatch):
        bucket.delete("live.csv", if_generation=listed)
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert bucket.list() == ["live.csv"]  # put back, no temporary name left visible


def test_open_read_streams_exactly_the_named_generation(bucket: Bucket) -> None:
    old = bucket.write_bytes("big.csv", b"a,b\n" * 1000)
    with bucket.open_read("big.csv", old) as handle:
        assert handle.read(4) == b"a,b\n" and len(handle.read()) == 3996
    new = bucket.write_bytes("big.csv", b"other")
    with pytest.raises(GenerationMismatch), bucket.open_read("big.csv", old):
        pass
    with bucket.open_read("big.csv", new) as handle:
        assert handle.read() == b"other"


def test_copy_takes_exactly_the_named_generation(bucket: Bucket) -> None:
    old = bucket.write_bytes("in/a.csv", b"first" * 1000)
    bucket.copy("in/a.csv", "archive/a.csv", old)
    assert bucket.read_bytes("archive/a.csv") == b"first" * 1000
    assert bucket.sha256("in/a.csv", old) == hashlib.sha256(b"first" * 1000).hexdigest()
    bucket.write_bytes("in/a.csv", b"second")
    with pytest.raises(GenerationMismatch):
        bucket.copy("in/a.csv", "archive/b.csv", old)
    assert not bucket.exists("archive/b.csv")
