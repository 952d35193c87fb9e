"""The bucket contract shared by every backend."""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO


class ObjectNotFound(FileNotFoundError):
    """The key does not exist in the bucket."""


class GenerationMismatch(RuntimeError):
    """The object is not at the generation the caller named (or, for `create`, it exists)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing says about one object."""

    key: str
    size: int
    generation: str  # changes whenever the object is written; opaque, compare for equality
    updated: float  # POSIX time of the last write (local: the file's mtime)


def check_key(key: str) -> str:
    """Keys are relative POSIX paths; refuse anything that could escape the bucket."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    return key


class Bucket(ABC):
    """A flat namespace of objects addressed by '/'-separated keys.

    Writes are atomic: a reader sees the old object or the whole new one, never
    a partial write. That is what lets a manifest act as a commit marker.

    Every write gives the object a new generation. Reads, writes and deletes can be
    made conditional on a generation, so that an object replaced by someone else
    in between is neither read as the old one nor deleted unread.
    """

    url: str
    # Whether a reader can see an object while its writer is still writing it (a local
    # file being copied in: yes; a GCS object appears whole once its upload completes).
    shows_partial_writes: bool = True

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under `prefix` (a key prefix, not only a folder), sorted."""

    @abstractmethod
    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        """Like `list`, with each object's size, generation and last write time."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """The object's size, generation and last write time; ObjectNotFound if absent."""

    @abstractmethod
    def read_bytes(self, key: str, generation: str | None = None) -> bytes:
        """The object's content; ObjectNotFound if absent.

        With `generation`, GenerationMismatch unless exactly that generation was read.
        """

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, if_generation: str | None = None) -> str:
        """Create or replace the object atomically and durably; returns its new generation.

        With `if_generation`, only if the object is currently at that generation
        (GenerationMismatch otherwise, also when it is absent).
        """

    @abstractmethod
    def create(self, key: str, data: bytes) -> str:
        """Write the object only if the key is free; GenerationMismatch if it exists."""

    @abstractmethod
    def delete(self, key: str, if_generation: str | None = None) -> None:
        """Remove the object; absent is not an error (deletes are retried).

        With `if_generation`, only if it is still at that generation: a newer object
        at the key stays, and GenerationMismatch says so.
        """

    @abstractmethod
    def open_read(self, key: str, generation: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A binary file of exactly that generation, to stream a large object in pieces.

        GenerationMismatch if the object is at another generation when opened.
        """

    @abstractmethod
    def copy(self, key: str, new_key: str, generation: str) -> None:
        """Copy exactly that generation of `key` to `new_key` (replacing it), streaming:
        memory does not grow with the object's size. GenerationMismatch if it changed."""

    def sha256(self, key: str, generation: str) -> str:
        """The sha256 of exactly that generation, read in pieces."""
        digest = hashlib.sha256()
        with self.open_read(key, generation) as handle:
            while block := handle.read(8 << 20):
                digest.update(block)
        return digest.hexdigest()

    def exists(self, key: str) -> bool:
        try:
            self.read_bytes(key)
        except ObjectNotFound:
            return False
        return True

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode("utf-8"))

    def move(self, key: str, new_key: str) -> None:
        """Copy then delete: safe to repeat if interrupted between the two."""
        self.write_bytes(new_key, self.read_bytes(key))
        self.delete(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
