"""Bounds checked before the library allocates memory for anything it reads.

A manifest (or a staged draft) names an architecture constructor and its kwargs; before any module
is built, :func:`check_architecture` builds it on torch's ``meta`` device (shapes only: no memory,
no initialisation) and counts its parameters against a limit. Before weights are read,
:func:`check_weights_header` parses the safetensors header (8 bytes of length, then JSON) and checks
that the declared tensors are exactly the architecture's, and that the file's size is exactly what
they declare. Only then are the bytes read and the real module built.

>>> shapes = check_architecture("mlp", {"in_shape": [4], "out": 2, "hidden": [3]}, entry="bit")
>>> sorted(shapes.items())[:2]
[('1.bias', (3,)), ('1.weight', (3, 4))]
>>> count_parameters(shapes)
23
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

import torch

from .. import nets
from .errors import IntegrityError, LimitExceeded, UnknownArchitecture

__all__ = [
    "MAX_PARAMETERS", "MAX_WEIGHTS_BYTES", "MAX_MANIFEST_BYTES", "MAX_KWARGS_ITEMS", "check_architecture",
    "check_weights_header", "count_parameters", "check_kwargs_size",
]

MAX_PARAMETERS = 50_000_000           # parameters + buffers of one neural function (200 MB as float32)
MAX_WEIGHTS_BYTES = 512 * 2**20       # bytes of one weights file
MAX_MANIFEST_BYTES = 2**20            # bytes of one manifest.json / draft.json
MAX_KWARGS_ITEMS = 1000               # scalars in an architecture's kwargs (lists, dicts included)
MAX_HEADER_BYTES = 16 * 2**20         # a safetensors header
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def _ref(entry: str | None, version: int | None) -> str:
    return f"{entry}@{version}" if version is not None else f"{entry}"


def check_kwargs_size(kwargs: Any, *, entry: str | None, version: int | None = None,
                      limit: int = MAX_KWARGS_ITEMS) -> None:
    """Refuse architecture kwargs with more than ``limit`` scalars (a million-layer ``hidden`` list)."""
    count, stack = 0, [kwargs]
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        count += 1
        if count > limit:
            raise LimitExceeded(f"the architecture kwargs of '{_ref(entry, version)}' have more than {limit} items",
                                entry=entry, version=version, hint="architectures are described by a few numbers")


def count_parameters(shapes: Mapping[str, tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in shapes.values())


def check_architecture(constructor: str, kwargs: Mapping[str, Any], *, entry: str | None,
                       version: int | None = None, max_parameters: int = MAX_PARAMETERS) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of ``constructor(**kwargs)``, built on the meta device (no memory).

    Raises :class:`UnknownArchitecture` for a constructor not registered, :class:`IntegrityError`
    for kwargs it rejects (wrong names or types, negative sizes) and :class:`LimitExceeded` above
    ``max_parameters``."""
    ref = _ref(entry, version)
    if not isinstance(constructor, str) or constructor not in nets.ARCHITECTURES:
        raise UnknownArchitecture(
            f"'{ref}' needs architecture constructor {constructor!r}, which is not registered in this process",
            entry=entry, version=version,
            hint=f"call workbench.nets.register_architecture({constructor!r}, ctor) before loading "
                 f"(registered: {', '.join(sorted(nets.ARCHITECTURES))})")
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise IntegrityError(f"the architecture kwargs of '{ref}' are not a JSON object", entry=entry,
                             version=version, hint="kwargs are a mapping of argument names to JSON values")
    check_kwargs_size(dict(kwargs), entry=entry, version=version)
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            module = nets.build(constructor, **dict(kwargs))
        shapes = {k: tuple(int(d) for d in v.shape) for k, v in module.state_dict().items()}
    except Exception as e:  # TypeError (unknown kwarg), RuntimeError (negative size), ValueError, ...
        first = str(e).splitlines()[0] if str(e) else ""
        raise IntegrityError(f"architecture {constructor}(**{_short(kwargs)}) of '{ref}' cannot be built: "
                             f"{type(e).__name__}: {first}", entry=entry, version=version,
                             hint=f"check the kwargs against the constructor '{constructor}' "
                                  "(workbench.nets); the manifest may have been edited") from e
    n = count_parameters(shapes)
    if n > max_parameters:
        raise LimitExceeded(f"architecture {constructor}(**{_short(kwargs)}) of '{ref}' has {n:,} parameters, "
                            f"more than the limit of {max_parameters:,}", entry=entry, version=version,
                            hint="raise max_parameters (Library(..., max_parameters=...)) if you trust it")
    return shapes


def check_weights_header(head: bytes, size: int, shapes: Mapping[str, tuple[int, ...]], *, entry: str | None,
                         version: int | None = None) -> None:
    """Check a safetensors file from its first bytes ``head`` and its ``size`` against ``shapes``."""
    ref = _ref(entry, version)

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"the weights of '{ref}' are not the safetensors file its architecture needs: {why}",
                              entry=entry, version=version, hint="remove this version and publish it again")

    if len(head) < 8:
        raise bad(f"{size} bytes, too short for a header")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise bad(f"a header of {n} bytes in a file of {size}")
    if len(head) < 8 + n:
        raise bad("the header is truncated")
    try:
        header = json.loads(head[8:8 + n])
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
        header.pop("__metadata__", None)
        declared, end = {}, 0
        for k, t in header.items():
            dtype, shape, (b, e) = t["dtype"], tuple(int(d) for d in t["shape"]), t["data_offsets"]
            if dtype not in _DTYPE_BYTES or not (isinstance(b, int) and isinstance(e, int) and 0 <= b <= e):
                raise ValueError(f"tensor {k!r}: dtype {dtype!r}, offsets {b!r}..{e!r}")
            if e - b != math.prod(shape) * _DTYPE_BYTES[dtype]:
                raise ValueError(f"tensor {k!r}: {e - b} bytes for shape {list(shape)} of {dtype}")
            declared[k], end = shape, max(end, e)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise bad(f"malformed header ({type(e).__name__}: {e})") from e
    if declared != dict(shapes):
        missing, extra = sorted(set(shapes) - set(declared)), sorted(set(declared) - set(shapes))
        wrong = sorted(k for k in set(shapes) & set(declared) if shapes[k] != declared[k])
        raise bad(f"tensors differ (missing {missing}, unexpected {extra}, other shape {wrong})")
    if size != 8 + n + end:
        raise bad(f"the file has {size} bytes, its header declares {8 + n + end}")


def _short(kwargs: Any) -> str:
    text = repr(dict(kwargs)) if isinstance(kwargs, Mapping) else repr(kwargs)
    return text if len(text) <= 120 else text[:117] + "..."


def parameter_count(constructor: str, kwargs: Mapping[str, Any]) -> int | None:
    """Parameters + buffers of architecture ``constructor(**kwargs)``, counted on the meta device
    (None when it cannot be built in this process)."""
    try:
        return count_parameters(check_architecture(constructor, _plain(kwargs), entry=None))
    except Exception:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
