"""The ambiguity report's view (:class:`workbench.ambiguity.AmbiguityReport`): a card listing the behaviours
that fit the data equally well, the restarts behind each, their programs, and the inputs that tell them apart.
Plain data first (:func:`ambiguity_spec`), HTML from it; every name escaped, nothing runs."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from ._common import jsonable


def ambiguity_spec(rep: Any) -> dict[str, Any]:
    return jsonable(rep.to_dict())


def ambiguity_html(spec: dict[str, Any]) -> str:
    e = lambda x: html.escape(str(x), quote=True)  # noqa: E731
    colour = "#b45309" if spec["ambiguous"] else "#1a7f37"
    bold = " style='font-weight:600'"
    rows = "".join(
        f"<tr{bold if g['fits_best'] else ''}><td>{e(g['id'])}</td><td>{g['fit']:.3f}</td>"
        f"<td>{e(g['programs'])}</td><td>{e(len(g['restarts']))}</td><td>{'yes' if g['fits_best'] else 'no'}</td></tr>"
        for g in spec["groups"])
    table = ("<table style='border-collapse:collapse;text-align:right'><tr><th>behaviour</th><th>fit</th>"
             f"<th>programs</th><th>restarts</th><th>fits best</th></tr>{rows}</table>")
    dist = "".join(
        f"<li><code>{e(d['text'])}</code>: " + ", ".join(f"behaviour {e(k)} &rarr; {e(v)}" for k, v in d["answers"].items())
        + ("" if d["label"] is None else f" (true: {e(d['label'])})") + "</li>" for d in spec["distinguishing"][:8])
    progs = "".join(f"<details><summary>behaviour {e(g['id'])}: program</summary><pre>{e(g['source'])}</pre></details>"
                    for g in spec["groups"] if g["fits_best"])
    return (f"<div class='ntpt-card ntpt-ambiguity' style='border:1px solid #d0d7de;border-radius:6px;padding:8px 10px'>"
            f"<div style='font-weight:600;color:{colour}'>{e(spec['line'])}</div>{table}"
            + (f"<div>distinguishing inputs:</div><ul>{dist}</ul>" if dist else "") + progs + "</div>")


def ambiguity_maker(rep: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    cache: dict[str, Any] = {}

    def spec() -> dict[str, Any]:
        if "s" not in cache:
            cache["s"] = ambiguity_spec(rep)
        return cache["s"]

    return "ambiguity", {"json": spec, "text/html": lambda: ambiguity_html(spec()), "text/plain": rep.text}
