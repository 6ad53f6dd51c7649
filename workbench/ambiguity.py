"""What the data leaves open: the distinct programs a fit found, which fit equally well, and inputs that
tell them apart; and active disambiguation (:func:`workbench.train.resume` with a few of those inputs labelled).

``report(result, probe)`` groups the distinct discrete programs of ``result``'s restarts by **what they
compute**: their outputs on the validation inputs and, given a :class:`Probe`, on the probe's inputs
(symbolic inputs read by perfect perception, or longer inputs from a task's generator). Programs whose fit
is within ``tol`` of the best fit are **data-equivalent**; when they fall into more than one behaviour, the
report is *ambiguous* and lists **distinguishing inputs**: probe inputs on which they answer differently,
e.g. "on 3 + 4 * 2 they answer 14 or 11". ``FitResult.summary()`` carries the report's one line, so a
result whose best programs disagree says so instead of presenting one of them as "the" program.

``workbench.train.resume(result, train, extra=...)`` continues every restart from where it stopped (logits, nets) with the
extra labelled examples in the exact scores of the discrete moves and in the discrete validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .core.display import Displayable

__all__ = ["Probe", "ProgramGroup", "Distinguisher", "AmbiguityReport", "report"]


@dataclass
class Probe:
    """Inputs on which to compare programs.

    ``inputs``: a batch of sketch inputs (e.g. label-filled tapes). ``net_forward``: the perception they
    are read with (e.g. a task's perfect-perception oracle; ``None``: the best restart's nets).
    ``labels``: the true output per input, where a task's generator knows it (``{output: (N,)}`` or one
    tensor). ``describe(i)``: input ``i`` as text. ``realise(idx)``: labelled training examples for the chosen
    inputs (e.g. images for their symbols), ``(inputs, targets)``; default: the probe's own inputs and labels.
    ``fit``: an optional second probe with labels on which "fits the training data" is judged (e.g. every
    2-digit expression under perfect perception); without it fit is the restarts' discrete validation accuracy.
    """

    inputs: dict[str, torch.Tensor]
    net_forward: Callable | None = None
    labels: Any = None
    describe: Callable[[int], str] | None = None
    realise: Callable[[torch.Tensor], Any] | None = None
    fit: Probe | None = None
    name: str = "probe"

    def label_dict(self) -> dict[str, torch.Tensor] | None:
        if self.labels is None:
            return None
        return dict(self.labels) if isinstance(self.labels, Mapping) else {"output": self.labels}

    def text(self, i: int) -> str:
        return self.describe(i) if self.describe else f"{self.name} input {i}"


@dataclass
class ProgramGroup:
    """Programs (distinct hole assignments) that compute the same outputs on every compared input."""

    id: int
    assignments: list[dict[str, int]]
    restarts: list[int]                 # restart indices whose program is in the group
    fit: float                          # best fit of its programs (accuracy)
    fits_best: bool                     # within tol of the best fit of all programs
    source: str = ""                    # the first program's source (read-out)


@dataclass
class Distinguisher:
    """An input on which data-equivalent behaviours disagree."""

    index: int                          # into the probe's batch
    text: str
    answers: dict[int, int]             # group id -> that group's output (-1: no value)
    label: int | None = None            # the true output when the probe knows it


@dataclass
class AmbiguityReport(Displayable):
    groups: list[ProgramGroup]
    distinct_programs: int
    distinguishing: list[Distinguisher]
    probe: Probe | None = None
    fit_on: str = "discrete validation accuracy"
    tol: float = 0.0
    note: str = ""
    _probe_out: dict[int, list[int]] = field(default_factory=dict, repr=False)  # group id -> outputs on the probe

    @property
    def best(self) -> list[ProgramGroup]:
        return [g for g in self.groups if g.fits_best]

    @property
    def ambiguous(self) -> bool:
        """More than one behaviour fits the data equally well."""
        return len(self.best) > 1

    @property
    def n_fitting_programs(self) -> int:
        return sum(len(g.assignments) for g in self.best)

    def line(self) -> str:
        n_best = self.n_fitting_programs
        top = max((g.fit for g in self.best), default=float("nan"))
        head = (f"ambiguity: {n_best} of {self.distinct_programs} distinct programs fit the data equally well "
                f"(fit {top:.3f}: {self.fit_on})")
        if not self.ambiguous:
            if self.probe is None and n_best > 1:
                return head + "; they agree on the validation inputs (give a probe of other inputs to compare them)"
            return head + ("; they compute the same" + (f" on {self.probe.name}" if self.probe else "") if n_best > 1
                           else "")
        d = self.distinguishing[0] if self.distinguishing else None
        tell = (f"; on {d.text} they answer {' or '.join(str(a) for a in sorted(set(d.answers.values())))}"
                if d else "")
        return (head + f" but compute {len(self.best)} different things{tell}: the program shown is one of them "
                "(see result.ambiguity)")

    def choose(self, k: int) -> list[Distinguisher]:
        """Up to ``k`` distinguishing inputs, chosen greedily to separate as many pairs of best behaviours
        as possible (then by how many different answers they give)."""
        pairs = {(a.id, b.id) for i, a in enumerate(self.best) for b in self.best[i + 1:]}
        chosen: list[Distinguisher] = []
        left = list(self.distinguishing)
        def gain(d: Distinguisher, pairs: set[tuple[int, int]]) -> tuple[int, int]:
            return (sum(1 for a, b in pairs if d.answers.get(a) != d.answers.get(b)), len(set(d.answers.values())))

        while left and len(chosen) < k:
            d = max(left, key=lambda d, pairs=pairs: gain(d, pairs))
            if pairs and gain(d, pairs)[0] == 0:
                pairs = {(a.id, b.id) for i, a in enumerate(self.best) for b in self.best[i + 1:]}  # all split: again
            left.remove(d)
            pairs = {(a, b) for a, b in pairs if d.answers.get(a) == d.answers.get(b)}
            chosen.append(d)
        return chosen

    def examples(self, k: int, *, label: Callable[[Distinguisher], int] | None = None) -> Any:
        """Labelled training examples for ``k`` chosen distinguishing inputs: ``probe.realise(idx)`` when
        the probe has it, else the probe's inputs with ``label(d)`` or the probe's labels."""
        from .core.errors import DataError

        chosen = self.choose(k)
        if not chosen:
            raise DataError("no distinguishing inputs to label", hint="the best programs agree on the probe's inputs")
        idx = torch.tensor([d.index for d in chosen])
        if self.probe.realise is not None:
            return self.probe.realise(idx)
        inputs = {name: v[idx] for name, v in self.probe.inputs.items()}
        if label is not None:
            return inputs, torch.tensor([int(label(d)) for d in chosen])
        labels = self.probe.label_dict()
        if labels is None:
            raise DataError("the probe has no labels: pass label=callable(distinguisher) -> output",
                            hint="or give Probe(labels=...) from the task's generator")
        return inputs, {k2: v[idx] for k2, v in labels.items()}

    def text(self) -> str:
        lines = [self.line()]
        for g in self.groups:
            star = "*" if g.fits_best else " "
            lines.append(f" {star} behaviour {g.id}: fit {g.fit:.3f}, {len(g.assignments)} program(s), "
                         f"restarts {g.restarts[:12]}{' ...' if len(g.restarts) > 12 else ''}")
        for d in self.distinguishing[:5]:
            ans = ", ".join(f"behaviour {gid}: {a}" for gid, a in sorted(d.answers.items()))
            lab = "" if d.label is None else f" (true: {d.label})"
            lines.append(f"   distinguishing: {d.text} -> {ans}{lab}")
        if self.note:
            lines.append(f"   note: {self.note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ambiguous": self.ambiguous, "distinct_programs": self.distinct_programs,
                "fitting_programs": self.n_fitting_programs, "fit_on": self.fit_on, "line": self.line(),
                "groups": [{"id": g.id, "fit": g.fit, "fits_best": g.fits_best, "programs": len(g.assignments),
                            "restarts": g.restarts, "assignment": g.assignments[0], "source": g.source}
                           for g in self.groups],
                "distinguishing": [{"index": d.index, "text": d.text, "answers": {str(k): v for k, v in d.answers.items()},
                                    "label": d.label} for d in self.distinguishing[:20]]}

    def __repr__(self) -> str:
        return self.text()


def _nets_of(result: Any) -> Callable:
    best = result.best

    def fwd(nf: Any, x: torch.Tensor) -> torch.Tensor:
        m = best.neural.get(nf.name, nf).module
        was = m.training
        m.eval()
        try:
            return m(x).unsqueeze(0)
        finally:
            m.train(was)

    return fwd


def _outputs(sketch: Any, table: dict[str, torch.Tensor], inputs: Mapping[str, torch.Tensor],
             net_forward: Callable) -> torch.Tensor:
    """Predicted outputs ``(P, N * outputs)`` of the programs of ``table`` on ``inputs``."""
    from .readout import predictions

    with torch.no_grad():
        outs = sketch.hard(table, inputs, net_forward=net_forward)
    P = next(iter(table.values())).shape[0]
    return torch.cat([predictions(outs[k].probs).expand(P, -1) for k in sorted(outs)], dim=-1)


def report(result: Any, probe: Probe | None = None, *, tol: float = 0.02, sketch: Any = None) -> AmbiguityReport:
    """The ambiguity report of a :class:`~workbench.train.FitResult` (see the module docstring).

    Fit: with ``probe.fit`` the accuracy of each program there; else the best discrete validation
    accuracy of its restarts. ``tol``: programs within this of the best fit are data-equivalent. ``sketch``:
    the sketch to run the programs with (default ``result.sketch``; e.g. an any-length one for longer probes)."""
    if probe is None:
        probe = result.__dict__.get("probe")  # a probe the user attached: ``result.probe = task_probe``
    cache = result.__dict__.setdefault("_ambiguity_cache", {})
    key = (id(probe), tol, len(result.restarts), id(sketch))
    if key in cache:
        return cache[key]
    sketch = sketch or result.sketch
    names = list(result.info.holes)
    distinct: dict[tuple, list[int]] = {}
    for r in result.restarts:
        if r.assignment:
            distinct.setdefault(tuple(int(r.assignment[k]) for k in names), []).append(r.index)
    keys = list(distinct)
    if not keys:
        rep = AmbiguityReport([], 0, [], probe, note="no restart has a program")
        cache[key] = rep
        return rep
    table = {k: torch.tensor([row[i] for row in keys]) for i, k in enumerate(names)}
    by_index = {r.index: r for r in result.restarts}
    nets = _nets_of(result)
    sig_parts = []
    val = result.examples.get("val") if getattr(result, "examples", None) else None
    if val is not None:
        sig_parts.append(_outputs(sketch, {k: v.to(next(iter(val.inputs.values())).device) for k, v in table.items()},
                                  val.inputs, nets).cpu())
    probe_out = None
    if probe is not None:
        probe_out = _outputs(sketch, table, probe.inputs, probe.net_forward or nets).cpu()
        sig_parts.append(probe_out)
    if probe is not None and probe.fit is not None:
        f_out = _outputs(sketch, table, probe.fit.inputs, probe.fit.net_forward or nets).cpu()
        lab = probe.fit.label_dict()
        want = torch.cat([lab[k].reshape(-1) for k in sorted(lab)])
        fits = (f_out == want).float().mean(-1).tolist()
        fit_on = f"{probe.fit.name}"
    else:
        fits = [max(by_index[i].best_accuracy for i in distinct[kk]) for kk in keys]
        fit_on = "discrete validation accuracy"
    sig = torch.cat(sig_parts, dim=-1) if sig_parts else torch.zeros(len(keys), 0, dtype=torch.long)
    top = max(fits)
    groups_by_sig: dict[bytes, int] = {}
    groups: list[ProgramGroup] = []
    members: list[list[int]] = []
    for p, kk in enumerate(keys):
        s = sig[p].numpy().tobytes()
        if s not in groups_by_sig:
            groups_by_sig[s] = len(groups)
            groups.append(ProgramGroup(len(groups), [], [], -1.0, False))
            members.append([])
        g = groups[groups_by_sig[s]]
        g.assignments.append(dict(zip(names, kk)))
        g.restarts += distinct[kk]
        g.fit = max(g.fit, fits[p])
        members[g.id].append(p)
    for g in groups:
        g.fits_best = g.fit >= top - tol
        g.restarts.sort()
    groups.sort(key=lambda g: (-g.fits_best, -len(g.restarts), g.id))
    # renumber by that order, so behaviour 0 is the most common of the best
    remap = {g.id: i for i, g in enumerate(groups)}
    members = [members[g.id] for g in groups]
    for g in groups:
        g.id = remap[g.id]
    lengths = getattr(result.best.program, "lengths", None) if result.best.program is not None else None
    for g in groups:
        try:
            from .readout import Program

            g.source = Program(sketch, g.assignments[0], lengths=lengths).source
        except Exception as e:  # noqa: BLE001 - a source that cannot be derived is reported, not fatal
            g.source = f"(no source: {type(e).__name__}: {e})"
    distinguishing: list[Distinguisher] = []
    probe_rows: dict[int, list[int]] = {}
    best = [g for g in groups if g.fits_best]
    if probe is not None and len(best) > 1:
        per = torch.stack([probe_out[members[g.id][0]] for g in best])  # (G, N * outputs)
        n_inputs = next(iter(probe.inputs.values())).shape[0]
        lab = probe.label_dict()
        labels = torch.cat([lab[k].reshape(-1) for k in sorted(lab)]) if lab else None
        for g, row in zip(best, per):
            probe_rows[g.id] = row.tolist()
        disagree = (per != per[:1]).any(0)
        for j in torch.nonzero(disagree).flatten().tolist():
            i = j % n_inputs
            distinguishing.append(Distinguisher(i, probe.text(i), {g.id: int(per[a, j]) for a, g in enumerate(best)},
                                                None if labels is None else int(labels[j])))
        distinguishing.sort(key=lambda d: (-len(set(d.answers.values())), d.index))
    note = ""
    if probe is None and len(best) == 1 and len(best[0].assignments) > 1:
        note = "several programs fit; no probe was given to look for inputs that tell them apart"
    rep = AmbiguityReport(groups, len(keys), distinguishing, probe, fit_on=fit_on, tol=tol, note=note,
                          _probe_out=probe_rows)
    cache[key] = rep
    return rep


