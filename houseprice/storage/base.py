"""The bucket contract shared by every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod


class ObjectNotFound(FileNotFoundError):
    """The key does not exist in the bucket."""


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
    """

    url: str

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under `prefix` (a key prefix, not only a folder), sorted."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's content; ObjectNotFound if absent."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace the object atomically and durably."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; absent is not an error (deletes are retried)."""

    def exists(self, key: str) -> bool:
        try:
            self.read_bytes(key)
        except ObjectNotFound:
            return False
        return True

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def move(self, key: str, new_key: str) -> None:
        """Copy then delete: safe to repeat if interrupted between the two."""
        self.write_bytes(new_key, self.read_bytes(key))
        self.delete(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
