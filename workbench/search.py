"""Discrete moves inside :func:`workbench.train.fit`: relaxation plus exact neighbour search.

Gradient descent on the relaxation falls into local optima (TerpreT's report; NTPT's 2 of 100 MATH
restarts). The soft interpreter is *exact* for a fixed program: with one-hot hole logits it gives the
likelihood of the data under that discrete program and the nets' current softmax outputs. So every
``moves_every`` validations (``TrainConfig(search="moves")``) a :class:`Searcher`:

1. **scores** each active restart's argmax program and its neighbours (a restart that was at the top
   of the previous round with the same program has only its program scored) -- every one-hole change and
   ``moves_pairs`` random two-hole changes -- by exact mean log-likelihood on ``moves_examples``
   training examples (a fresh seeded sample each round, the same for all restarts of the round) plus any
   extra labelled examples (active disambiguation), all candidate programs of all restarts batched as the
   restart dimension of one soft pass (each candidate sees its own restart's nets);
2. **moves** a restart whose best neighbour scores better: its logits are re-seeded there (the new
   values get the row's maximum plus ``MARGIN``; Adam's momentum of the row is cleared);
3. **recycles** restarts that are stuck (``stuck_after`` rounds without improving their best score while
   below the top) or that duplicate another restart's program below the top: with probability
   ``recycle_fresh`` from a fresh Dirichlet init, else from a mutation (one or two hole changes) of a
   top-scoring restart's program (with per-restart nets, that restart's nets are copied too).

Restarts interact under ``search="moves"`` (mutations of the best), so unlike plain gradient descent
the result depends on which restarts share a run (sharding); identical seeds and restarts still give
identical results (the searcher's random stream is seeded by ``seed`` and ``restart_offset``).

:class:`Searcher` is also used by :func:`workbench.train.resume` to carry extra labelled examples of
other shapes (e.g. longer MATH tapes) that cannot join the training tensors: they enter the exact
scores and the discrete validation accuracy (so a restart is not stopped while it gets one wrong).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .core.sketch import Sketch, SketchInfo

MARGIN = 3.0          # logit margin given to a program's values when a restart is moved or re-seeded there
TOP_TOL = 0.05        # nats: restarts within this of the round's best score are "at the top" (never recycled)
IMPROVE_TOL = 1e-4    # nats: a neighbour must beat the current program by more than this to move there
MAX_CELLS = 24_000    # candidate programs x examples per soft pass (memory bound)
_NEG = -1e4           # one-hot logits: exp(-1e4) is exactly 0 in float32 and float64

__all__ = ["Searcher", "SearchStats", "program_scores", "one_hot_logits", "neighbours"]


@dataclass
class SearchStats:
    """What the discrete moves did in one fit (``FitResult.search``)."""

    rounds: int = 0
    programs_scored: int = 0
    moves: int = 0                      # restarts moved to a better neighbour
    recycled_fresh: int = 0             # stuck / duplicate restarts re-seeded from a fresh init
    recycled_mutation: int = 0          # ... from a mutation of a top restart's program
    seconds: float = 0.0                # time spent scoring and moving
    events: list[tuple[int, int, str]] = field(default_factory=list)  # (step, restart index, what)

    def line(self) -> str:
        return (f"discrete moves: {self.rounds} rounds, {self.programs_scored} programs scored, {self.moves} moves, "
                f"{self.recycled_fresh + self.recycled_mutation} restarts recycled ({self.recycled_fresh} fresh, "
                f"{self.recycled_mutation} mutations of the best), {self.seconds:.1f} s")


def one_hot_logits(programs: Mapping[str, torch.Tensor], sizes: Mapping[str, int], *, dtype: torch.dtype,
                   device: Any) -> dict[str, torch.Tensor]:
    """Logits ``(P, K)`` whose softmax is exactly one-hot at ``programs[hole]`` ``(P,)``."""
    out = {}
    for name, v in programs.items():
        row = torch.full((v.shape[0], sizes[name]), _NEG, dtype=dtype, device=device)
        row.scatter_(1, v.view(-1, 1).to(device), 0.0)
        out[name] = row
    return out


def program_scores(sketch: Sketch, programs: Mapping[str, torch.Tensor], groups: Sequence[Any], *,
                   sizes: Mapping[str, int], owners: torch.Tensor | None = None,
                   net_forward: Callable | None = None, dtype: torch.dtype = torch.float32,
                   device: Any = "cpu") -> torch.Tensor:
    """Exact mean log-likelihood ``(P,)`` of each discrete program over the examples of ``groups``
    (a list of :class:`~workbench.train.Examples`; groups may differ in shape, e.g. tape length).

    ``net_forward(nf, x)`` gives the nets' logits ``(R|1, B, K)``; candidate ``p`` uses row
    ``owners[p]`` of per-restart outputs (its own restart's nets)."""
    from .core.soft import shared_forward

    base = net_forward or shared_forward
    P = next(iter(programs.values())).shape[0]
    total = torch.zeros(P, dtype=torch.float64)
    count = 0
    for ex in groups:
        n = len(ex)
        if n == 0:
            continue
        chunk = max(1, MAX_CELLS // n)
        for s in range(0, P, chunk):
            sl = slice(s, min(P, s + chunk))
            rows = owners[sl] if owners is not None else None

            def fwd(nf, x, rows=rows):
                out = base(nf, x)
                return out if out.shape[0] == 1 or rows is None else out[rows.to(out.device)]

            logits = one_hot_logits({k: v[sl] for k, v in programs.items()}, sizes, dtype=dtype, device=device)
            with torch.no_grad():
                outs = sketch.soft(logits, ex.inputs, net_forward=fwd, dtype=dtype, device=device)
            ll = torch.zeros(sl.stop - sl.start, dtype=torch.float64, device=device)
            for k, v in outs.items():
                probs = v.probs.expand(sl.stop - sl.start, -1, -1)
                p = probs.gather(-1, ex.targets[k].to(probs.device).view(1, -1, 1).expand(probs.shape[0], -1, 1))
                ll = ll + torch.log(p.squeeze(-1).clamp_min(1e-12)).sum(-1).double()
            total[sl] += ll.cpu()
        count += n
    return total / max(1, count)


def neighbours(base: np.ndarray, sizes: Sequence[int], rng: np.random.Generator, pairs: int) -> np.ndarray:
    """Candidate programs ``(C, H)`` around ``base`` ``(H,)``: ``base`` itself first, then every
    one-hole change, then ``pairs`` random two-hole changes."""
    rows = [base.copy()]
    for h, k in enumerate(sizes):
        for v in range(k):
            if v != base[h]:
                r = base.copy()
                r[h] = v
                rows.append(r)
    movable = [h for h, k in enumerate(sizes) if k > 1]
    for _ in range(pairs if len(movable) >= 2 else 0):
        h1, h2 = rng.choice(movable, size=2, replace=False)
        r = base.copy()
        r[h1] = (base[h1] + 1 + rng.integers(sizes[h1] - 1)) % sizes[h1]
        r[h2] = (base[h2] + 1 + rng.integers(sizes[h2] - 1)) % sizes[h2]
        rows.append(r)
    return np.stack(rows)


def mutate(base: np.ndarray, sizes: Sequence[int], rng: np.random.Generator, changes: int) -> np.ndarray:
    movable = [h for h, k in enumerate(sizes) if k > 1]
    r = base.copy()
    if not movable:
        return r
    for h in rng.choice(movable, size=min(changes, len(movable)), replace=False):
        r[h] = (base[h] + 1 + rng.integers(sizes[h] - 1)) % sizes[h]
    return r


class Searcher:
    """The discrete-move state of one :func:`~workbench.train.fit` (see the module docstring).

    ``fit`` calls :meth:`before_validation` right before each validation and :meth:`accuracy` on each
    validation's per-restart accuracies; it reads :attr:`stats` at the end."""

    def __init__(self, sketch: Sketch, info: SketchInfo, cfg: Any, *, holes: Mapping[str, torch.nn.Parameter],
                 opt: torch.optim.Optimizer, train: Any, ensembles: Mapping[str, Any], net_forward: Callable,
                 dtype: torch.dtype, extra: Sequence[Any] = ()):
        self.sketch, self.info, self.cfg = sketch, info, cfg
        self.holes, self.opt, self.train, self.ensembles = holes, opt, train, ensembles
        self.net_forward, self.dtype, self.device = net_forward, dtype, cfg.device
        self.names = list(info.holes)
        self.sizes = [info.holes[k].size for k in self.names]
        self.size_of = {k: info.holes[k].size for k in self.names}
        self.extra = [e.to(cfg.device, dtype) for e in extra]
        self.moves_on = cfg.search == "moves"
        R = cfg.restarts
        self.rng = np.random.default_rng([int(cfg.seed) & (2**64 - 1), 0x5EA4C4, int(cfg.restart_offset)])
        self.gen = torch.Generator().manual_seed(int(cfg.seed) * 104_729 + 17)  # the scoring samples' stream
        self.best_score = [-math.inf] * R
        self.stale = [0] * R
        self.validations = 0
        self.settled: dict[int, bytes] = {}  # restart -> its program, while at the top (no neighbours scored)
        self.stats = SearchStats()

    # -- hooks ----------------------------------------------------------------------------------------
    def before_validation(self, step: int, active: Sequence[bool], results: Sequence[Any]) -> None:
        """A round of moves and recycling (every ``moves_every`` validations), before ``fit`` validates."""
        self.validations += 1
        if not self.moves_on or (self.validations - 1) % self.cfg.moves_every:
            return
        import time

        t0 = time.perf_counter()
        try:
            for m in self.ensembles.values():
                m.eval()
            self._round(step, active, results)
        finally:
            for m in self.ensembles.values():
                m.train()
            self.stats.seconds += time.perf_counter() - t0

    def accuracy(self, acc: list[float], assign: Mapping[str, torch.Tensor], n_val: int) -> list[float]:
        """Discrete validation accuracy counting the extra examples too (unchanged without any)."""
        if not self.extra:
            return acc
        from .readout import predictions

        right = torch.tensor(acc, dtype=torch.float64) * n_val
        total = n_val
        with torch.no_grad():
            for m in self.ensembles.values():
                m.eval()
            for ex in self.extra:
                outs = self.sketch.hard(dict(assign), ex.inputs, net_forward=self.net_forward, dtype=self.dtype,
                                        device=self.device)
                ok = torch.ones(len(acc), len(ex), dtype=torch.bool, device=self.device)
                for k, v in outs.items():
                    ok &= predictions(v.probs).expand(len(acc), -1) == ex.targets[k]
                right += ok.double().sum(-1).cpu()
                total += len(ex)
            for m in self.ensembles.values():
                m.train()
        return (right / total).tolist()

    # -- one round ------------------------------------------------------------------------------------
    def _current(self, r: int, active: Sequence[bool], results: Sequence[Any]) -> np.ndarray:
        if not active[r] and results[r].assignment:
            return np.array([results[r].assignment[k] for k in self.names])
        return np.array([int(self.holes[k].detach()[r].argmax()) for k in self.names])

    def _sample(self) -> list[Any]:
        n = len(self.train)
        idx = torch.randint(0, n, (min(self.cfg.moves_examples, n),), generator=self.gen)
        return [self.train.take(idx.to(self.device))] + self.extra

    def _round(self, step: int, active: Sequence[bool], results: Sequence[Any]) -> None:
        R = self.cfg.restarts
        groups = self._sample()
        progs = [self._current(r, active, results) for r in range(R)]
        cands, owners, spans = [], [], {}
        for r in range(R):
            settled = self.settled.get(r) == progs[r].tobytes()  # at the top last round, same program: no search
            c = (neighbours(progs[r], self.sizes, self.rng, self.cfg.moves_pairs) if active[r] and not settled
                 else progs[r][None])
            spans[r] = (sum(len(x) for x in cands), len(c))
            cands.append(c)
            owners += [r] * len(c)
        table = torch.from_numpy(np.concatenate(cands)).long()
        programs = {k: table[:, i] for i, k in enumerate(self.names)}
        scores = program_scores(self.sketch, programs, groups, sizes=self.size_of,
                                owners=torch.tensor(owners), net_forward=self.net_forward, dtype=self.dtype,
                                device=self.device)
        self.stats.rounds += 1
        self.stats.programs_scored += len(table)
        current = np.array([float(scores[spans[r][0]]) for r in range(R)])
        best_after = current.copy()
        for r in range(R):
            if not active[r]:
                continue
            s, n = spans[r]
            j = int(torch.argmax(scores[s:s + n]))
            if j > 0 and float(scores[s + j]) > current[r] + IMPROVE_TOL:
                self._seed(r, table[s + j].numpy())
                best_after[r] = float(scores[s + j])
                progs[r] = table[s + j].numpy()
                self.stats.moves += 1
                self.stats.events.append((step, results[r].index, "move"))
        top = float(best_after.max())
        for r in range(R):
            if not active[r]:
                continue
            if best_after[r] > self.best_score[r] + IMPROVE_TOL:
                self.best_score[r], self.stale[r] = best_after[r], 0
            else:
                self.stale[r] += 1
        at_top = [r for r in range(R) if best_after[r] >= top - TOP_TOL]
        self.settled = {r: progs[r].tobytes() for r in at_top}
        seen: dict[bytes, int] = {}
        for r in range(R):
            key = progs[r].tobytes()
            dup = key in seen
            seen.setdefault(key, r)
            if not active[r] or r in at_top:
                continue
            if dup or self.stale[r] >= self.cfg.stuck_after:
                self._recycle(step, r, at_top, progs, results, reason="duplicate" if dup else "stuck")

    # -- moving logits --------------------------------------------------------------------------------
    def _seed(self, r: int, program: np.ndarray, *, reset: bool = False) -> None:
        """Make ``program`` restart ``r``'s argmax: its values get the row's max + MARGIN (``reset``: the
        row becomes MARGIN one-hot); Adam's momentum of the row is cleared."""
        with torch.no_grad():
            for i, k in enumerate(self.names):
                h = self.holes[k]
                if reset:
                    h[r] = 0.0
                    h[r, int(program[i])] = MARGIN
                elif int(h[r].argmax()) != int(program[i]):
                    h[r, int(program[i])] = h[r].max() + MARGIN
                st = self.opt.state.get(h, {})
                if "exp_avg" in st:
                    st["exp_avg"][r] = 0.0

    def _recycle(self, step: int, r: int, at_top: list[int], progs: list[np.ndarray], results: Sequence[Any], *,
                 reason: str) -> None:
        self.stale[r], self.best_score[r] = 0, -math.inf
        if not at_top or self.rng.random() < self.cfg.recycle_fresh:
            with torch.no_grad():
                for k, d in self.info.holes.items():
                    g = self.rng.gamma(self.cfg.dirichlet_alpha, size=d.size)
                    row = np.log(np.clip(g / max(g.sum(), 1e-300), 1e-30, None))
                    self.holes[k][r] = torch.from_numpy(row).to(self.holes[k].dtype)
                    st = self.opt.state.get(self.holes[k], {})
                    if "exp_avg" in st:
                        st["exp_avg"][r] = 0.0
            self.stats.recycled_fresh += 1
            self.stats.events.append((step, results[r].index, f"{reason}: fresh init"))
            return
        src = int(at_top[int(self.rng.integers(len(at_top)))])
        changes = 1 + int(self.rng.integers(2))
        self._seed(r, mutate(progs[src], self.sizes, self.rng, changes), reset=True)
        for m in self.ensembles.values():  # the mutation starts from the source restart's nets
            with torch.no_grad():
                for p in m.params.values():
                    p[r] = p[src]
                    st = self.opt.state.get(p, {})
                    if "exp_avg" in st:
                        st["exp_avg"][r] = 0.0
                        st["exp_avg_sq"][r] = st["exp_avg_sq"][src]
        self.stats.recycled_mutation += 1
        self.stats.events.append((step, results[r].index, f"{reason}: mutation of restart {results[src].index}"))


def load_init(init: Any, holes: Mapping[str, torch.nn.Parameter], ensembles: Mapping[str, Any]) -> None:
    """Start from a previous :class:`~workbench.train.FitResult`: each restart's hole logits are the log of
    its final hole distributions with its best program as argmax, and its nets are its best nets."""
    R = next(iter(holes.values())).shape[0]
    if len(init.restarts) != R:
        from .core.errors import ConfigError

        raise ConfigError(f"resuming a result of {len(init.restarts)} restarts needs restarts={len(init.restarts)}, "
                          f"got {R}", site="TrainConfig.restarts")
    with torch.no_grad():
        for k, h in holes.items():
            if k in init.hole_probs:
                h.copy_(torch.log(init.hole_probs[k].clamp_min(1e-30)).to(h))
            for r, res in enumerate(init.restarts):
                if k in res.assignment and int(h[r].argmax()) != res.assignment[k]:
                    h[r, res.assignment[k]] = h[r].max() + MARGIN
        for name, m in ensembles.items():
            for r, res in enumerate(init.restarts):
                nf = res.neural.get(name)
                if nf is None:
                    continue
                state = nf.module.state_dict()
                for key in m._keys:
                    m.params[key.replace(".", "__")][r] = state[key].to(m.params[key.replace(".", "__")])
