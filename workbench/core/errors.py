"""The workbench's exception tree.

Every error raised for a user's mistake derives from :class:`WorkbenchError`, names the
site / entry involved and suggests a fix. Nothing here imports anything beyond the stdlib.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""

    def __init__(self, message: str, *, site: str | None = None, hint: str | None = None):
        self.site = site
        self.hint = hint
        text = message
        if site is not None and f"'{site}'" not in message:
            text = f"at site '{site}': {message}"
        if hint:
            text = f"{text}\n  hint: {hint}"
        super().__init__(text)


class SketchError(WorkbenchError):
    """The sketch itself is malformed (names, control flow, structure)."""


class SoftControlFlowError(SketchError, TypeError):
    """A distribution was used where Python needs a concrete value (`if`, index, `for`)."""


class DuplicateSiteError(SketchError):
    """Two sites of one execution share a name."""


class DomainError(WorkbenchError, ValueError):
    """A value's finite domain does not fit where it is used."""


class SignatureError(DomainError):
    """A neural function's module or argument does not fit its declared signature."""


class DataError(WorkbenchError, ValueError):
    """A data set is empty, mis-shaped or does not match the sketch's inputs/outputs."""


class TrainingError(WorkbenchError, RuntimeError):
    """Training diverged (NaN/inf loss) or was configured inconsistently."""


class ConfigError(WorkbenchError, ValueError):
    """A configuration object got an invalid value."""


class LibraryError(WorkbenchError):
    """Base class of the neural library's errors."""


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional dependency is needed for this feature."""
