"""Finite domains and tensor input types.

A :class:`Domain` is an explicit finite set ``{0, ..., size-1}`` with a name and optional labels.
A :class:`TensorType` describes one tensor input (e.g. a 28x28 image); :class:`Grid` and
:class:`Seq` describe a fixed or variable-size collection of such tensors that a sketch can index,
also by a soft position.

>>> Digit = Domain("Digit", 10)
>>> Digit
Digit[10]
>>> Bool.labels
('False', 'True')
>>> Image = TensorType("Image28x28", (28, 28))
>>> Grid(Image, 2, 2).cells
4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import DomainError


@dataclass(frozen=True)
class Domain:
    """A finite domain of integers ``0..size-1``."""

    name: str
    size: int
    labels: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise DomainError(
                f"domain '{self.name}' needs a positive integer size, got {self.size!r}",
                hint="e.g. Domain('Digit', 10)",
            )
        if self.labels is not None:
            labels = tuple(str(x) for x in self.labels)
            if len(labels) != self.size:
                raise DomainError(
                    f"domain '{self.name}' has size {self.size} but {len(labels)} labels",
                    hint="give exactly one label per value, or none",
                )
            object.__setattr__(self, "labels", labels)

    @classmethod
    def enum(cls, name: str, labels: Sequence[str]) -> Domain:
        """A domain whose values are named, e.g. instructions."""
        return cls(name, len(labels), tuple(labels))

    def label(self, value: int) -> str:
        return self.labels[value] if self.labels is not None else str(value)

    def index(self, label: str | int) -> int:
        """The value of a label (or an int checked to lie in the domain)."""
        if isinstance(label, int):
            self.check(label)
            return label
        if self.labels is None or label not in self.labels:
            raise DomainError(f"'{label}' is not a label of domain {self}", hint=f"labels: {self.labels}")
        return self.labels.index(label)

    def check(self, value: int, *, site: str | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.size:
            raise DomainError(
                f"constant {value!r} is outside domain {self} (values 0..{self.size - 1})",
                site=site,
                hint="use a value inside the domain, or declare a larger domain",
            )
        return value

    def __repr__(self) -> str:
        return f"{self.name}[{self.size}]"


Bool = Domain("Bool", 2, ("False", "True"))


def Int(n: int) -> Domain:  # noqa: N802 - reads like a type
    """The domain ``Int<n>`` of integers ``0..n-1``."""
    return Domain(f"Int{n}", n)


@dataclass(frozen=True)
class TensorType:
    """The type of one tensor input, e.g. ``TensorType('Image28x28', (28, 28))``."""

    name: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Grid:
    """A ``rows x cols`` grid of tensors of one type, indexed by ``[r, c]`` or a flat soft position."""

    cell: TensorType
    rows: int
    cols: int

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows, self.cols, *self.cell.shape)

    def __repr__(self) -> str:
        return f"Grid[{self.cell!r}, {self.rows}x{self.cols}]"


@dataclass(frozen=True)
class Seq:
    """A sequence (tape) of tensors of one type; ``length=None`` accepts any length."""

    cell: TensorType
    length: int | None = None

    def __repr__(self) -> str:
        return f"Seq[{self.cell!r}, {self.length if self.length is not None else '*'}]"


Image28 = TensorType("Image28x28", (28, 28))
