"""The soft interpretation (TerpreT's forward marginals): every value is a batch of marginals.

Holes are ``softmax(logits / temperature)`` with one row of logits per restart, so a forward pass
runs ``R`` restarts at once: values are ``(R, B, K)`` tensors (``R`` or ``B`` may be 1). A neural
function's softmax output is the marginal of its value; called on ``cells[pos]`` it runs once on
every cell (cached for the whole execution) and mixes the outputs by ``pos``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from .domains import Domain
from .errors import DomainError, SketchError
from .neural import NeuralFunction
from .runtime import Handler, Message
from .values import TensorRef, Value

_CONSTS: dict[tuple, torch.Tensor] = {}  # one-hot constants (1, 1, K), shared by all executions

NetForward = Callable[[NeuralFunction, torch.Tensor], torch.Tensor]  # x (B, *shape) -> logits (R|1, B, K)


def shared_forward(nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
    """Run the function's own module (shared by all restarts): logits ``(1, B, K)``."""
    return nf.module(x).unsqueeze(0)


class SoftInterpreter(Handler):
    """Evaluate a sketch on marginals.

    ``holes`` maps hole names to logits ``(R, K)``; ``net_forward`` computes logits for a neural
    function (default: its own module; training installs per-restart copies); ``temperature``
    divides hole logits.
    """

    def __init__(self, holes: Mapping[str, torch.Tensor], *, net_forward: NetForward = shared_forward,
                 temperature: float = 1.0, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 strict: bool = True):
        self.holes = holes
        self.net_forward = net_forward
        self.temperature = temperature
        self.dtype = dtype
        self.device = torch.device(device)
        self.strict = strict
        self._net_cache: dict[tuple[int, int], torch.Tensor] = {}
        self.neural_used: dict[str, NeuralFunction] = {}
        self.holes_seen: dict[str, Domain] = {}
        self._neural_sites: dict[str, str] = {}

    # -- primitives ---------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        getattr(self, "_" + msg.kind)(msg)

    def _hole(self, msg: Message) -> None:
        (domain,) = msg.args
        self.holes_seen[msg.name] = domain
        logits = self.holes.get(msg.name)
        if logits is None:
            if self.strict:
                raise SketchError(f"hole '{msg.name}' has no parameters", site=msg.name,
                                  hint="holes must be the same in every execution; re-run hole discovery")
            logits = torch.zeros(1, domain.size, dtype=self.dtype, device=self.device)
        if logits.shape[-1] != domain.size:
            raise DomainError(f"hole '{msg.name}' has {logits.shape[-1]} logits but domain {domain!r}", site=msg.name)
        msg.value = Value(self.hole_probs(logits).unsqueeze(1), domain, msg.name)

    def hole_probs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits / self.temperature, dim=-1)

    def _const(self, msg: Message) -> None:
        domain, value = msg.args
        key = (domain.size, int(value), self.dtype, self.device)
        p = _CONSTS.get(key)
        if p is None:  # one-hot constants are cached: read-only (every op on marginals is out of place)
            p = torch.zeros(1, 1, domain.size, dtype=self.dtype, device=self.device)
            p[..., value] = 1.0
            if len(_CONSTS) < 4096:
                _CONSTS[key] = p
        msg.value = Value(p, domain, msg.name)

    def _input(self, msg: Message) -> None:  # a finite-domain input: int tensor (B,) -> one-hot
        domain, ints = msg.args
        p = torch.nn.functional.one_hot(ints.to(self.device).long(), domain.size).to(self.dtype).unsqueeze(0)
        msg.value = Value(p, domain, msg.name)

    def _fn(self, msg: Message) -> None:
        f, *args = msg.args
        if len(args) == 2 and _same_alternatives(*args):
            a, b = args
            msg.value = Value(_soft_on_shared_choices(f, a.mix, b.mix, a.probs, b.probs), f.output, msg.name)
        else:
            msg.value = Value(f.soft(*(a.probs for a in args)), f.output, msg.name)

    def _is(self, msg: Message) -> None:
        v, c, domain = msg.args
        p = v.probs
        hit = p[..., c]
        msg.value = Value(torch.stack([(p.sum(-1) - hit).clamp_min(0), hit], -1), domain, msg.name)

    def _cast(self, msg: Message) -> None:
        v, domain = msg.args
        k, n = v.domain.size, domain.size
        p = v.probs
        p = torch.nn.functional.pad(p, (0, n - k)) if n >= k else p[..., :n]
        msg.value = Value(p, domain, msg.name)

    def _choose(self, msg: Message) -> None:
        sel, alts = msg.args
        vals = [a() if callable(a) else a for a in alts]
        _check_alternatives(msg.name, sel, vals)
        w = sel.probs
        cols = w.split(1, -1)  # views; slicing one column at a time costs a zero-filled backward each
        out = cols[0] * vals[0].probs
        for c, v in zip(cols[1:], vals[1:]):
            out = torch.addcmul(out, c, v.probs)
        msg.value = Value(out, vals[0].domain, msg.name, mix=(w, vals))

    def _let(self, msg: Message) -> None:
        (v,) = msg.args
        msg.value = Value(v.probs, v.domain, msg.name)

    def _neural(self, msg: Message) -> None:
        nf, x = msg.args
        seen = self.neural_used.get(nf.name)
        if seen is not None and seen is not nf:
            raise SketchError(
                f"two different neural functions are named '{nf.name}' (sites '{self._neural_sites[nf.name]}' "
                f"and '{msg.name}'): training, read-out and the library key nets by name",
                site=msg.name, hint="give each NeuralFunction its own name, or call the same object at both sites")
        self.neural_used[nf.name] = nf
        self._neural_sites.setdefault(nf.name, msg.name)
        if isinstance(x, TensorRef):
            probs = self.net_probs(nf, x.tensor, site=msg.name)
        else:
            cells = x.cells.tensor  # (B, N, *shape)
            key = (id(nf), id(cells))
            if key not in self._net_cache:
                b, n = cells.shape[:2]
                flat = self.net_probs(nf, cells.reshape(b * n, *cells.shape[2:]), site=msg.name)
                self._net_cache[key] = flat.reshape(flat.shape[0], b, n, -1)
            per_cell = self._net_cache[key]  # (R, B, N, K)
            probs = (x.pos.probs.unsqueeze(-2) @ per_cell).squeeze(-2)  # (R, B, 1, N) @ (R, B, N, K)
        msg.value = Value(probs, nf.output, msg.name)

    def net_probs(self, nf: NeuralFunction, x: torch.Tensor, *, site: str) -> torch.Tensor:
        p = next(nf.module.parameters(), None)
        x = x.to(device=self.device, dtype=p.dtype if p is not None and x.is_floating_point() else x.dtype)
        logits = self.net_forward(nf, x).to(self.dtype)
        if logits.dim() != 3 or logits.shape[-1] != nf.output.size:
            nf.check_logits(logits.reshape(-1, logits.shape[-1]) if logits.dim() == 3 else logits, site=site)
        return torch.softmax(logits, dim=-1)


def _check_alternatives(site: str, sel, vals: list) -> None:
    if not vals:
        raise SketchError("choose() needs at least one alternative", site=site)
    for i, v in enumerate(vals):
        if not hasattr(v, "domain"):
            raise SketchError(f"alternative {i} of '{site}' is {type(v).__name__} {v!r:.40}, not a sketch value",
                              site=site, hint="a register read before anything was written to it? start registers "
                                              "with wb.const(domain, 0); alternatives are values or zero-argument "
                                              "callables returning one")
    if sel.domain.size != len(vals):
        raise DomainError(
            f"selector '{sel.name}' has domain {sel.domain!r} but there are {len(vals)} alternatives",
            site=site, hint=f"give exactly {sel.domain.size} alternatives, one per value of the selector",
        )
    d = vals[0].domain
    for i, v in enumerate(vals):
        if getattr(v, "domain", None) != d:
            raise DomainError(
                f"alternative {i} has domain {getattr(v, 'domain', type(v).__name__)!r} but alternative 0 has {d!r}",
                site=site, hint=f"cast the alternatives to one domain with wb.cast(value, {d.name})",
            )


def _same_alternatives(a, b) -> bool:
    return (getattr(a, "mix", None) is not None and getattr(b, "mix", None) is not None
            and len(a.mix[1]) == len(b.mix[1]) and all(x is y for x, y in zip(a.mix[1], b.mix[1])))


def _soft_on_shared_choices(f, mix_a, mix_b, out_a: torch.Tensor, out_b: torch.Tensor) -> torch.Tensor:
    """``f(choose(sa, regs), choose(sb, regs))`` as a mixture over argument pairs.

    Plain forward marginals treat the two arguments as independent, so ``f(R0, R0)`` would see two
    independent draws of R0 (``R0 + R0`` becomes a convolution that can mimic the sum of two
    different digits: the "half-sum" local optimum of ADD2x2). Here the pair ``(i, i)`` is one
    variable: its output is ``f(v, v)`` for each value ``v`` of register ``i``, exactly.

    The soft function is bilinear, so the mixture over all pairs is ``f(a, b)`` on the two mixtures
    ``a``, ``b`` (already computed by ``choose``) minus the independent-pair terms on the diagonal plus
    their exact values: ``n + 1`` evaluations instead of ``n^2``.
    """
    (wa, alts), (wb, _) = mix_a, mix_b
    lead = torch.broadcast_shapes(wa.shape[:-1], wb.shape[:-1], *(v.probs.shape[:-1] for v in alts))
    stack = torch.stack([v.probs.expand(*lead, v.probs.shape[-1]) for v in alts])  # (n, R, B, K)
    w = wa * wb
    w = w[(None,) * (len(lead) + 1 - w.dim())].movedim(-1, 0).unsqueeze(-1)  # (n, R|1, B|1, 1): weight of pair (i, i)
    return f.soft_on_same_values(out_a, out_b, stack, w)
