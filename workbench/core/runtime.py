"""The dispatch at the heart of the language: every primitive becomes a :class:`Message` that the
active interpreter (soft, hard, symbolic) evaluates, and that wrapping handlers (the trace
recorder) may observe. One interpretation per file; this file only routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import DuplicateSiteError, SketchError, WorkbenchError

#: The closed set of primitive kinds: every interpreter has one method ``_<kind>`` per kind (a test checks).
Kind = Literal["input", "hole", "const", "fn", "is", "neural", "choose", "let", "cast"]
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass
class Message:
    """One primitive call of a :data:`Kind`."""

    kind: Kind
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    value: Any = None


class Handler:
    """Base of interpreters and observers. Used as a context manager; handlers nest."""

    def process(self, msg: Message) -> None:  # evaluate (set msg.value) or leave to the next
        pass

    def postprocess(self, msg: Message) -> None:  # observe the result
        pass

    def __enter__(self):
        _STACK.append(self)
        if len(_STACK) == 1:
            _NAMES.clear()
        return self

    def __exit__(self, *exc) -> None:
        _STACK.remove(self)
        if not _STACK:
            _NAMES.clear()


_STACK: list[Handler] = []
_NAMES: dict[str, int] = {}  # per execution: base name -> count (auto) / -1 (user-given)
_CURRENT: list[str] = []


def active() -> bool:
    return bool(_STACK)


def site_name(base: str, name: str | None) -> str:
    """A stable unique site name: the user's ``name`` (must be unique) or ``base#k``."""
    if name is not None:
        if not isinstance(name, str) or not name:
            raise SketchError(f"site names must be non-empty strings, got {name!r}")
        if name in _NAMES:
            raise DuplicateSiteError(
                f"site name '{name}' is used twice in one execution",
                site=name,
                hint="names key holes, traces and programs: make each unique, e.g. f'line{i}.instr' in a loop",
            )
        _NAMES[name] = -1
        return name
    k = _NAMES.get("#" + base, 0)
    _NAMES["#" + base] = k + 1
    auto = f"{base}#{k}"
    while auto in _NAMES:  # a user took this name explicitly
        k += 1
        _NAMES["#" + base] = k + 1
        auto = f"{base}#{k}"
    _NAMES[auto] = -1
    return auto


def dispatch(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Run one primitive through the handler stack and return its value."""
    if not _STACK:
        raise SketchError(
            f"primitive '{kind}' ({name}) was called outside a sketch execution",
            hint="call sketch primitives inside a function decorated with @sketch and run it via fit()/"
            "sketch.soft()/sketch.hard()",
        )
    if kind not in KINDS:
        raise SketchError(f"unknown primitive kind {kind!r} at site '{name}'", site=name,
                          hint=f"kinds are {', '.join(KINDS)}")
    msg = Message(kind, name, args, kwargs)
    _CURRENT.append(name)
    try:
        for h in reversed(_STACK):
            h.process(msg)
            if msg.value is not None:
                break
        if msg.value is None:
            raise SketchError(f"no active interpreter evaluated site '{name}' of kind {kind}")
        for h in _STACK:
            h.postprocess(msg)
    except WorkbenchError:
        raise
    except Exception as e:  # user code or torch inside a primitive: add the site as context
        raise SketchError(f"while executing site '{name}' ({kind}): {type(e).__name__}: {e}", site=name) from e
    finally:
        _CURRENT.pop()
    return msg.value


def current_site() -> str | None:
    return _CURRENT[-1] if _CURRENT else None


def call_user(fn: Callable, *args: Any, where: str) -> Any:
    """Call user code (a sketch body), adding context to foreign exceptions."""
    try:
        return fn(*args)
    except WorkbenchError:
        raise
    except RecursionError as e:
        raise SketchError(f"while executing {where}: the sketch recursed without end ({e})", site=current_site(),
                          hint="a sketch body runs once per execution: loop with a Python for over a constant "
                               "range (it unrolls) and stop data-dependently with wb.Halting") from e
    except Exception as e:
        raise SketchError(f"while executing {where}: {type(e).__name__}: {e}", site=current_site()) from e
