"""The primitives a sketch body calls.

>>> from workbench.core.domains import Domain, Bool
>>> Instr = Domain.enum("Instr", ["NOOP", "INC"])
>>> # inside a sketch:  op = hole("line0.op", Instr);  x = choose(op, [x, inc(x)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import runtime
from .domains import Bool, Domain
from .errors import DomainError, SketchError
from .functions import FiniteFunction


def _site(base: str, name: str | None) -> str:
    return runtime.site_name(base, name)


def hole(name: str, domain: Domain) -> Any:
    """A named discrete choice over ``domain`` with trainable logits (one row per restart)."""
    if not isinstance(name, str) or not name:
        raise SketchError(f"a hole needs a non-empty string name, got {name!r}", hint="e.g. hole('line0.instr', Instr)")
    if not isinstance(domain, Domain):
        raise DomainError(f"hole '{name}' needs a Domain, got {type(domain).__name__}", site=name)
    return runtime.dispatch("hole", _site("hole", name), domain)


def const(domain: Domain, value: int | str, *, name: str | None = None) -> Any:
    """A constant of ``domain`` (an int, or a label of an enum domain)."""
    site = _site("const", name)
    v = domain.index(value) if isinstance(value, str) else domain.check(value, site=site)
    return runtime.dispatch("const", site, domain, v)


def choose(selector: Any, alternatives: Sequence[Any], *, name: str | None = None) -> Any:
    """The alternative picked by ``selector`` (a hole or any value): a mixture weighted by its marginal.

    Alternatives are values or zero-argument callables (branches); all must share one domain.
    """
    if not hasattr(selector, "domain"):
        raise DomainError(f"choose() needs a finite-domain selector, got {type(selector).__name__}",
                          hint="select with a hole or a value; for a Python int just index the list")
    return runtime.dispatch("choose", _site("choose", name), selector, list(alternatives))


def where(cond: Any, then: Any, else_: Any, *, name: str | None = None) -> Any:
    """``then`` if ``cond`` (a Bool value) else ``else_``: a mixture by the condition's marginal."""
    if getattr(cond, "domain", None) != Bool:
        raise DomainError(
            f"where() needs a Bool condition, got {getattr(cond, 'domain', type(cond).__name__)!r}",
            site=getattr(cond, "name", None), hint="compare with wb.is_(value, c) to get a Bool",
        )
    return runtime.dispatch("choose", _site("where", name), cond, [else_, then])


def let(name: str, value: Any) -> Any:
    """Name an intermediate value (it appears in traces and as a variable of the read-out program)."""
    return runtime.dispatch("let", _site("let", name), value)


def cast(value: Any, domain: Domain, *, name: str | None = None) -> Any:
    """Embed a value into another domain (``0..k-1`` into ``0..n-1``; a smaller target drops mass)."""
    return runtime.dispatch("cast", _site("cast", name), value, domain)


or_ = FiniteFunction("or_", lambda a, b: a | b, inputs=(Bool, Bool), output=Bool)
and_ = FiniteFunction("and_", lambda a, b: a & b, inputs=(Bool, Bool), output=Bool)
not_ = FiniteFunction("not_", lambda a: 1 - a, inputs=(Bool,), output=Bool)


def is_(value: Any, c: int, *, name: str | None = None) -> Any:
    """Bool: ``value == c`` (``c`` a constant of the value's domain)."""
    d = getattr(value, "domain", None)
    if d is None:
        raise DomainError(f"is_() needs a finite-domain value, got {type(value).__name__}",
                          hint="compare a sketch value with a constant: wb.is_(value, 3)")
    site = _site("is_", name)
    return runtime.dispatch("is", site, value, d.check(c, site=site), Bool)


class Halting:
    """Soft halting for unrolled loops: once halted, the state stays as it was.

    >>> # h = Halting("halted")
    >>> # for t in range(T):
    >>> #     acc = h.keep(acc, step(acc))           # old value where halted
    >>> #     h.halt_if(is_(pos, last), step=t)
    """

    def __init__(self, name: str = "halted"):
        self.name = name
        self.flag = const(Bool, 0, name=f"{name}@init")

    def keep(self, old: Any, new: Any, *, name: str | None = None) -> Any:
        return where(self.flag, old, new, name=name)

    def keep_all(self, old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
        return [self.keep(o, n) for o, n in zip(old, new)]

    def halt_if(self, cond: Any, *, step: int | str) -> Any:
        self.flag = let(f"{self.name}@{step}", or_(self.flag, cond))
        return self.flag


def branch(selector: Any, branches: Sequence[Callable[[], Any]], *, name: str | None = None) -> Any:
    """Like :func:`choose` with callables: in read-out only the chosen branch is emitted."""
    return choose(selector, branches, name=name)
