"""Bucket backed by a local directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from houseprice.storage.base import (
    Bucket,
    GenerationMismatch,
    ObjectInfo,
    ObjectNotFound,
    check_key,
)

HIDDEN = ".tmp-"  # temporary files and lock files: never visible objects


class LocalBucket(Bucket):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()

    @classmethod
    def from_url(cls, url: str) -> LocalBucket:
        return cls(urlparse(url).path if url.startswith("file://") else url)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def list(self, prefix: str = "") -> list[str]:
        keys = []
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                if name.startswith(HIDDEN):
                    continue  # an interrupted write or a lock, never a visible object
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        found = []
        for key in self.list(prefix):
            with contextlib.suppress(ObjectNotFound):  # removed since the walk
                found.append(self.stat(key))
        return found

    def stat(self, key: str) -> ObjectInfo:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"{self.url}/{key}") from None
        if not os.path.isfile(self._path(key)):
            raise ObjectNotFound(f"{self.url}/{key}")
        return ObjectInfo(key, st.st_size, _generation(st), st.st_mtime)

    def read_bytes(self, key: str, generation: str | None = None) -> bytes:
        try:
            with open(self._path(key), "rb") as handle:
                before = _generation(os.fstat(handle.fileno()))
                if generation is not None and before != generation:
                    raise GenerationMismatch(f"{self.url}/{key} is now generation {before}")
                data = handle.read()
                # A writer appending in place changes the mtime of the file we hold open.
                if generation is not None and _generation(os.fstat(handle.fileno())) != before:
                    raise GenerationMismatch(f"{self.url}/{key} changed while being read")
                return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self.url}/{key}") from None

    @contextlib.contextmanager
    def open_read(self, key: str, generation: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self.url}/{key}") from None
        with handle:
            current = _generation(os.fstat(handle.fileno()))
            if current != generation:
                raise GenerationMismatch(f"{self.url}/{key} is now generation {current}")
            yield handle

    def copy(self, key: str, new_key: str, generation: str) -> None:
        target = self._path(new_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=HIDDEN, dir=target.parent)
        try:
            with self.open_read(key, generation) as source, os.fdopen(fd, "wb") as sink:
                shutil.copyfileobj(source, sink, 8 << 20)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def write_bytes(self, key: str, data: bytes, if_generation: str | None = None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(path, data)
        try:
            if if_generation is None:
                os.replace(tmp, path)
            else:
                with _locked(path):
                    current = _generation_or_none(path)
                    if current != if_generation:
                        raise GenerationMismatch(f"{self.url}/{key} is now generation {current}")
                    os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return _generation(path.stat())

    def create(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(path, data)
        try:
            with _locked(path):
                os.link(tmp, path)  # atomic, and never replaces an existing file
        except FileExistsError:
            raise GenerationMismatch(f"{self.url}/{key} already exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return _generation(path.stat())

    def delete(self, key: str, if_generation: str | None = None) -> None:
        path = self._path(key)
        if if_generation is None:
            path.unlink(missing_ok=True)
            return
        # Writers of raw files do not take our lock: move whatever is there aside
        # atomically, then look at what was taken, and put back anything newer.
        with _locked(path):
            aside = path.with_name(f"{HIDDEN}del-{uuid.uuid4().hex}")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                return
            taken = _generation(aside.stat())
            if taken == if_generation:
                aside.unlink()
                _fsync_dir(path.parent)
                return
            try:
                os.link(aside, path)
            except FileExistsError:  # a third write landed: keep ours under its own name
                os.link(aside, path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}"))
            aside.unlink()
            raise GenerationMismatch(f"{self.url}/{key} is now generation {taken}")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


def _generation(st: os.stat_result) -> str:
    # A rewrite changes the mtime, a replace the inode; both together stand for a generation.
    return f"{st.st_mtime_ns:x}-{st.st_ino:x}-{st.st_size:x}"


def _generation_or_none(path: Path) -> str | None:
    try:
        return _generation(path.stat())
    except FileNotFoundError:
        return None


def _write_temp(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=HIDDEN, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise the conditional operations on one key across processes (flock)."""
    lock = path.with_name(f"{HIDDEN}lock-{path.name}")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
