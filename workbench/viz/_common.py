"""Small helpers shared by the views: JSON-ready data, figures to PNG, colours."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

# one colour per restart (tab10), also used by the widgets' CSS
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON data: tensors and arrays become lists, NaN/inf become ``None``."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "tolist"):  # torch.Tensor, numpy array or scalar
        return jsonable(x.tolist())
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return str(x)


def nan_if_none(rows: list[list[float | None]]) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in rows]


def figure_png(fig: Any, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (made with :func:`new_figure`, so no pyplot state is kept)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def data_uri(data: bytes | str, mime: str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure not registered with pyplot's window manager (safe headless)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def entropy_bits(probs: list[float]) -> float:
    return -sum(p * math.log2(p) for p in probs if p > 0)
