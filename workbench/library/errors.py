"""The library's errors: each names the entry (and version) involved and suggests a fix."""

from __future__ import annotations

from ..core.errors import LibraryError

__all__ = [
    "LibraryError", "EntryNotFound", "VersionNotFound", "InvalidName", "IntegrityError",
    "UnknownArchitecture", "PublishError", "UnsafePath", "LimitExceeded", "StorageError", "DuplicateWeights",
]


class _Located(LibraryError):
    """A library error about one entry (``entry``) and, where known, one version (``version``)."""

    def __init__(self, message: str, *, entry: str | None = None, version: int | None = None,
                 hint: str | None = None):
        self.entry = entry
        self.version = version
        super().__init__(message, hint=hint)

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class EntryNotFound(_Located, KeyError):
    """No entry of that name in the library."""


class VersionNotFound(EntryNotFound):
    """The entry exists, but not that version (or it was removed)."""


class InvalidName(_Located, ValueError):
    """An entry name or version number is malformed (path traversal, bad characters, ...)."""


class IntegrityError(_Located):
    """Stored data does not match its manifest: wrong sha256, unreadable manifest or weights."""


class UnknownArchitecture(_Located):
    """The entry's architecture constructor is not registered in this process."""


class PublishError(_Located, ValueError):
    """A function cannot be published as given (no architecture, metrics not numbers, ...)."""


class UnsafePath(_Located):
    """A path inside the library is a symlink, a special file or not of the expected kind; refused.

    ``path`` is the offending path. The library never follows links out of its root."""

    def __init__(self, message: str, *, path: str, entry: str | None = None, version: int | None = None,
                 hint: str | None = None):
        self.path = path
        super().__init__(message, entry=entry, version=version, hint=hint)


class LimitExceeded(_Located, ValueError):
    """A manifest, draft or weights file is larger than the library's configured limits."""


class StorageError(_Located):
    """The storage refused an operation (disk full, read-only, permissions): ``errno`` says which."""

    def __init__(self, message: str, *, errno: int | None = None, entry: str | None = None,
                 version: int | None = None, hint: str | None = None):
        self.errno = errno
        super().__init__(message, entry=entry, version=version, hint=hint)


class DuplicateWeights(PublishError):
    """The weights to publish are already a version of the entry (same sha256): ``existing`` is its ref."""

    def __init__(self, message: str, *, existing: str, entry: str | None = None, version: int | None = None,
                 hint: str | None = None):
        self.existing = existing
        super().__init__(message, entry=entry, version=version, hint=hint)
