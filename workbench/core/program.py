"""The program IR: a read-out program as structured nodes, and its two printouts.

The read-out interpretation (:mod:`.symbolic`) turns a sketch with every hole known into a
:class:`Graph`: :class:`Node` objects, each with a site name, an op from the closed set :data:`Op`,
its target function or net *by identity*, arguments that are other nodes or literal ints, and for
neural nodes a structured :class:`Read` (which input, which cell). Everything else renders it:
:meth:`Graph.tabular` (one node a line), :meth:`Graph.python` (runnable source), the program graph.

Loops over a sequence unroll when a sketch runs; :func:`roll` finds the run of identical unrolled
steps (same ops and targets, arguments that refer to the same step, the previous step or a node
before the loop, literals affine in the step) and the printouts show it as one ``for`` loop.

>>> from workbench.core import Domain, add, sketch
>>> D = Domain("D", 4); D7 = Domain("D7", 7)
>>> @sketch(inputs={"x": D, "y": D}, output=D7)
... def plus(x, y):
...     return add(x, y, D7)(x, y)
>>> print(plus.graph({}).tabular())
name    op     target  args    domain
x       input                  D[4]
y       input                  D[4]
add     fn     add     x, y    D7[7]
output  -> add
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

from .domains import Domain

Op = Literal["input", "fn", "is", "neural", "choose", "cast"]
OPS: tuple[str, ...] = get_args(Op)
Term = Any  # Node | int (a literal) | None (no value: the mass left the domain)


@dataclass(frozen=True)
class Read:
    """What a neural node reads: a tensor input, or a cell of a grid / tape input.

    ``cell`` is a fixed flat cell index, ``position`` the site name of a soft (or symbolic) index.
    """

    input: str
    kind: Literal["tensor", "grid", "tape"] = "tensor"
    cols: int | None = None
    cell: int | None = None
    position: str | None = None

    @property
    def coords(self) -> tuple[int, ...] | None:
        if self.cell is None:
            return None
        return divmod(self.cell, self.cols) if self.kind == "grid" else (self.cell,)

    def __str__(self) -> str:
        if self.kind == "tensor":
            return self.input
        if self.position is not None:
            return f"{self.input}[{self.position}]"
        return f"{self.input}[{', '.join(map(str, self.coords or ('?',)))}]"


@dataclass(eq=False)
class Node:
    """One operation of a read-out program (compared by identity)."""

    name: str
    op: Op
    domain: Domain
    target: Any = None
    args: tuple[Term, ...] = ()
    read: Read | None = None  # neural: the input; args then hold the cell index (node or literal) if any
    label: str | None = None  # a ``let`` name
    index: int = -1

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown IR op {self.op!r}; ops are {OPS}")

    def __repr__(self) -> str:
        return f"<Node {self.label or self.name}: {self.op} {getattr(self.target, 'name', '')}>"


@dataclass
class Loop:
    """``count`` identical steps of ``body`` (the last step's nodes). ``refs[(i, a)]`` says what argument
    ``a`` of body node ``i`` is: ``("outer", node)``, ``("local", j)``, ``("carried", j)`` (body node ``j``
    of the previous step; ``inits[j]`` before the first) or ``("lit", base, step)`` (``base + step * i``)."""

    body: list[Node]
    count: int
    refs: dict[tuple[int, int], tuple]
    inits: dict[int, Term]


Segment = Node | Loop


@dataclass
class Graph:
    """A discrete program: inputs, segments (nodes and rolled loops) in execution order, outputs."""

    name: str
    params: list[str]
    segments: list[Segment]
    outputs: dict[str, Term]
    single: bool = True
    lengths: dict[str, int] = field(default_factory=dict)

    # -- queries ----------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """Every live node, loop bodies once, in execution order."""
        return [n for s in self.segments for n in (s.body if isinstance(s, Loop) else [s])]

    @property
    def loops(self) -> list[Loop]:
        return [s for s in self.segments if isinstance(s, Loop)]

    def targets(self, op: str) -> dict[str, Any]:
        """Unique source name -> function (``op="fn"``) or net (``"neural"``), distinct by identity."""
        return {name: t for name, (t, o) in self._names().items() if o == op}

    def _names(self) -> dict[str, tuple[Any, str]]:
        names: dict[str, tuple[Any, str]] = {}
        seen: dict[int, str] = {}
        for n in self.nodes:
            t = n.target
            if n.op not in ("fn", "neural") or id(t) in seen:
                continue
            base, k = t.name, 1
            name = base
            while name in names or name in self.params or name in _HELPERS or name == self.name:
                k += 1
                name = f"{base}_{k}"
            names[name] = (t, n.op)
            seen[id(t)] = name
        return names

    def target_name(self, t: Any) -> str:
        return self._name_of[id(t)]

    @cached_property
    def _name_of(self) -> dict[int, str]:
        return {id(obj): name for name, (obj, _) in self._names().items()}

    # -- printouts ----------------------------------------------------------------------------------
    def tabular(self) -> str:
        """The IR listing: one node a line (name, op, target, args, domain); loops indented."""
        r = _Renderer(self, inline=False)
        rows = [("name", "op", "target", "args", "domain")]
        rows += [(p, "input", "", "", _dom(self, p)) for p in self.params]
        for seg in self.segments:
            if isinstance(seg, Loop):
                rows.append((f"for {r.loop_var} in range({seg.count}):", "", "", "", ""))
                for i, n in enumerate(seg.body):
                    rows.append(("  " + r.var(n), n.op, _target(r, n), r.args_text(n, seg, i), repr(n.domain)))
            elif seg.op != "input":
                rows.append((r.var(seg), seg.op, _target(r, seg), r.args_text(seg), repr(seg.domain)))
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
        for k, t in self.outputs.items():
            lines.append(f"{k}  -> {r.term(t)}")
        return "\n".join(lines) + "\n"

    def python(self) -> str:
        """Runnable Python source of the program (see :mod:`workbench.readout` for its namespace)."""
        return _Renderer(self, inline=True).source()

    def statements(self) -> list[Statement]:
        """The source's lines as data (what the program graph draws)."""
        return _Renderer(self, inline=True).statements()

    def __str__(self) -> str:
        return self.tabular()


def _dom(g: Graph, p: str) -> str:
    for n in g.nodes:
        if n.op == "input" and n.name == p:
            return repr(n.domain)
    return ""


def _target(r: _Renderer, n: Node) -> str:
    if n.op in ("fn", "neural"):
        return r.graph.target_name(n.target)
    if n.op == "is":
        return "=="
    return ""


# -- rendering ------------------------------------------------------------------------------------------
_HELPERS = ("_pick", "_cast", "_is", "_at", "_length")


class _Renderer:
    def __init__(self, graph: Graph, *, inline: bool):
        self.graph = graph
        self.names = graph._names()
        self.taken = set(graph.params) | set(self.names) | set(_HELPERS) | {graph.name}
        self.loop_var = _fresh("i", self.taken)
        self._var: dict[int, str] = {}
        self.uses = _uses(graph)
        self.inline: set[int] = set()
        if inline:
            # only sites the sketch did not name (``add#3``) or outputs: a name the user gave stays a variable
            outs = {id(t) for t in graph.outputs.values() if isinstance(t, Node)}
            self.inline = {id(n) for n, (count, local) in self.uses.items() if count == 1 and local
                           and n.label is None and n.op != "input" and ("#" in n.name or id(n) in outs)}
            for lp in graph.loops:
                self.inline -= _unsafe_inlines(lp, self.inline)
        self.uses = {id(n): v for n, v in self.uses.items()}
        self.prev: dict[tuple[int, int], str] = {}
        self.deps: list[str] = []
        self.aliased: set[int] = set()  # straight nodes used only as a loop's initial value: they take its name
        if inline:
            for lp in graph.loops:
                for j, init in lp.inits.items():
                    if isinstance(init, Node) and init.op != "input" and self.uses[id(init)][0] == 1:
                        self._var[id(init)] = self.var(lp.body[j])
                        self.aliased.add(id(init))

    def var(self, n: Node) -> str:
        if n.op == "input":
            return n.name
        if id(n) not in self._var:
            self._var[id(n)] = _fresh(_clean(n.label or n.name), self.taken)
        return self._var[id(n)]

    def term(self, t: Term, loop: Loop | None = None, i: int = -1, a: int = -1) -> str:
        """A term used as an argument: a variable, a literal or (inlined) an expression."""
        if loop is not None:
            ref = loop.refs.get((i, a))
            if ref is not None:
                kind = ref[0]
                if kind == "lit":
                    return _affine(ref[1], ref[2], self.loop_var)
                if kind == "outer":
                    return self.term(ref[1])
                j = ref[1]
                if kind == "carried":
                    self.deps.append(self.var(loop.body[j]))
                    return self.prev.get((id(loop), j)) or self.var(loop.body[j])
                return self.expr_or_var(loop.body[j], loop, j)
        if t is None or isinstance(t, int):
            return repr(t)
        return self.expr_or_var(t)

    def args_text(self, n: Node, loop: Loop | None = None, i: int = -1) -> str:
        if n.op == "neural":  # the cell it reads: tape[i + 1], grid[0, 1], _at(grid, pos, cols=2)
            call = self.expr(n, loop, i)
            return call[call.index("(") + 1:-1]
        return ", ".join(self.term(t, loop, i, a) for a, t in enumerate(n.args))

    def expr_or_var(self, n: Node, loop: Loop | None = None, j: int = -1) -> str:
        if id(n) in self.inline:
            return self.expr(n, loop, j)
        self.deps.append(self.var(n))
        return self.var(n)

    def expr(self, n: Node, loop: Loop | None = None, i: int = -1) -> str:
        args = [self.term(t, loop, i, a) for a, t in enumerate(n.args)]
        if n.op == "fn":
            return f"{self.graph.target_name(n.target)}({', '.join(args)})"
        if n.op == "is":
            return f"_is({args[0]}, {args[1]})"
        if n.op == "cast":
            return f"_cast({args[0]}, {n.domain.size})"
        if n.op == "choose":
            if len(args) == 3 and n.args[0].domain.size == 2:
                return f"({args[2]} if {args[0]} else {args[1]})"
            return f"_pick({args[0]}, ({', '.join(args[1:])},))"
        rd = n.read
        name = self.graph.target_name(n.target)
        if rd.kind == "tensor":
            return f"{name}({rd.input})"
        ref = loop.refs.get((i, 0)) if loop is not None else None
        if ref is None and not isinstance(n.args[0], Node):
            cell = n.args[0]
        elif ref is not None and ref[0] == "lit" and ref[2] == 0:
            cell = ref[1]
        else:
            idx = args[0]
            if rd.kind == "grid":
                return f"{name}(_at({rd.input}, {idx}, cols={rd.cols}))"
            return f"{name}({rd.input}[{idx}])" if ref is not None and ref[0] == "lit" else \
                f"{name}(_at({rd.input}, {idx}))"
        if cell is None:
            return "None"
        where = ", ".join(map(str, divmod(cell, rd.cols))) if rd.kind == "grid" else str(cell)
        return f"{name}({rd.input}[{where}])"

    def statements(self) -> list[Statement]:
        g = self.graph
        out = [Statement(f"_length({k}, {n})", "", None, [k], None) for k, n in g.lengths.items()]
        for seg in g.segments:
            if isinstance(seg, Loop):
                out += self._loop(seg)
            elif seg.op != "input" and id(seg) not in self.inline and self.uses.get(id(seg)):
                out.append(self._stmt(seg, None, -1))
        self.deps = []
        if g.single:
            (out_t,) = g.outputs.values()
            text = self.term(out_t)
        else:
            text = "{" + ", ".join(f"{k!r}: {self.term(v)}" for k, v in g.outputs.items()) + "}"
        out.append(Statement("return", text, None, list(dict.fromkeys(self.deps)), None))
        return out

    def _stmt(self, n: Node, loop: Loop | None, i: int) -> Statement:
        self.deps = []
        text = self.expr(n, loop, i)
        return Statement(self.var(n), text, n, list(dict.fromkeys(self.deps)), None if loop is None else loop.count)

    def source(self) -> str:
        g = self.graph
        lines = [f"def {g.name}({', '.join(g.params)}):"]
        for st in self.statements():
            pad = "        " if st.loop is not None and not st.header else "    "
            if st.header or (st.var.startswith("_length(") and not st.expr):
                lines.append(pad + st.var)
            elif st.var == "return":
                lines.append(f"    return {st.expr}")
            else:
                lines.append(f"{pad}{st.var} = {st.expr}")
        return "\n".join(lines) + "\n"

    def _loop(self, loop: Loop) -> list[Statement]:
        out = []
        for j, init in sorted(loop.inits.items()):
            if id(init) not in self.aliased:
                self.deps = []
                text = self.term(init)
                out.append(Statement(self.var(loop.body[j]), text, None, list(dict.fromkeys(self.deps)), None))
        out.append(Statement(f"for {self.loop_var} in range({loop.count}):", "", None, [], loop.count, header=True))
        # a carried value read after its own variable was overwritten in this step: copy it first
        for (i, _a), ref in sorted(loop.refs.items()):
            if ref[0] == "carried" and ref[1] < i and (id(loop), ref[1]) not in self.prev:
                v = self.var(loop.body[ref[1]])
                self.prev[(id(loop), ref[1])] = p = _fresh(f"prev_{v}", self.taken)
                out.append(Statement(p, v, None, [v], loop.count))
        for i, n in enumerate(loop.body):
            if id(n) not in self.inline and self.uses.get(id(n)):
                out.append(self._stmt(n, loop, i))
        return out


@dataclass
class Statement:
    """One line of the rendered source: ``var = expr`` (``node`` computes it), the variables it reads,
    and the loop it is in (its step count) if any; ``header`` marks a ``for`` line."""

    var: str
    expr: str
    node: Node | None
    deps: list[str]
    loop: int | None
    header: bool = False


def _unsafe_inlines(lp: Loop, candidates: set[int]) -> set[int]:
    """Body nodes that must stay lines: inlined into a later line, their expression would read a
    previous-step variable after this step overwrote it (no copy of it is taken at the step's start)."""
    copied = {ref[1] for (r, _), ref in lp.refs.items() if ref[0] == "carried" and ref[1] < r}
    consumer = {ref[1]: r for (r, _), ref in lp.refs.items() if ref[0] == "local"}
    reads: dict[int, set[int]] = {}
    unsafe = set()
    for i, n in enumerate(lp.body):
        own = {ref[1] for (r, _), ref in lp.refs.items() if r == i and ref[0] == "carried" and ref[1] not in copied}
        sub = [reads.get(ref[1], set()) for (r, _), ref in lp.refs.items() if r == i and ref[0] == "local"]
        reads[i] = own.union(*sub)
        if id(n) in candidates and i in consumer and all(o >= consumer[i] for o in reads[i]):
            continue
        reads[i] = set()  # a line of its own: its variable is stable for the rest of the step
        if id(n) in candidates:
            unsafe.add(id(n))
    return unsafe


def _is_literal(t: Term) -> bool:
    return t is None or isinstance(t, int)


def _affine(base: int, step: int, var: str) -> str:
    if step == 0:
        return repr(base)
    core = var if step == 1 else f"{step} * {var}"
    return core if base == 0 else f"{core} {'+' if base > 0 else '-'} {abs(base)}"


def _clean(name: str) -> str:
    base = re.sub(r"(@|#)\d+$", "", name)
    base = re.sub(r"^t\d+\.", "", base)
    base = re.sub(r"\W", "_", base).strip("_") or "v"
    if keyword.iskeyword(base):
        base += "_"
    if base[0].isdigit():
        base = "v_" + base
    return base


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _uses(g: Graph) -> dict[Node, tuple[int, bool]]:
    """node -> (number of uses, whether its single use is in its own segment: straight code, or its step)."""
    count: dict[Node, int] = {}
    local: dict[Node, bool] = {}
    in_loop = {id(n) for lp in g.loops for n in lp.body}

    def use(n: Term, same: bool) -> None:
        if isinstance(n, Node):
            count[n] = count.get(n, 0) + 1
            local[n] = same and count[n] == 1

    for seg in g.segments:
        if isinstance(seg, Loop):
            for ref in seg.refs.values():
                if ref[0] == "outer":
                    use(ref[1], False)
                elif ref[0] in ("local", "carried"):
                    use(seg.body[ref[1]], ref[0] == "local")
            for j, init in seg.inits.items():  # a carried variable is assigned before the loop and in it
                use(init, False)
                use(seg.body[j], False)
        else:
            for t in seg.args:
                use(t, isinstance(t, Node) and id(t) not in in_loop)
    for t in g.outputs.values():
        use(t, isinstance(t, Node) and id(t) not in in_loop)
    return {n: (c, local.get(n, False)) for n, c in count.items()}


# -- loop rolling -----------------------------------------------------------------------------------------
def roll(name: str, params: list[str], nodes: list[Node], outputs: Mapping[str, Term], *, single: bool,
         lengths: Mapping[str, int], min_steps: int = 3) -> Graph:
    """The graph of ``nodes`` (every node created, in creation order) with the longest run of
    identical steps rolled into a loop, and dead nodes dropped."""
    for i, n in enumerate(nodes):
        n.index = i
    loop = _find_loop(nodes, outputs, min_steps)
    if loop is None:
        segments: list[Segment] = list(nodes)
    else:
        s, p, k, lp = loop
        segments = list(nodes[:s]) + [lp] + list(nodes[s + k * p:])
    return Graph(name, list(params), _live(segments, outputs), dict(outputs), single, dict(lengths))


def _shape(n: Node) -> tuple:
    """What must agree between steps (arguments are checked by :func:`_check`: a literal in the first
    step may be the initial value of a carried one)."""
    return (n.op, id(n.target) if n.op in ("fn", "neural") else n.target, n.domain, n.read, len(n.args))


def _find_loop(nodes: list[Node], outputs: Mapping[str, Term], min_steps: int):
    import torch

    m = len(nodes)
    if m < 2 * min_steps:
        return None
    ids: dict[tuple, int] = {}
    h = torch.tensor([ids.setdefault(_shape(n), len(ids)) for n in nodes])
    cands = []
    for p in range(1, m // min_steps + 1):
        eq = torch.cat([torch.zeros(1, dtype=torch.int8), (h[:-p] == h[p:]).to(torch.int8),
                        torch.zeros(1, dtype=torch.int8)])
        d = eq.diff()
        starts, ends = (d == 1).nonzero().flatten(), (d == -1).nonzero().flatten()
        for a, b in zip(starts.tolist(), ends.tolist()):  # h[x] == h[x + p] for x in [a, b)
            k = (b - a + p) // p
            if k >= min_steps:
                cands.append((k * p, -p, a, k))
    cands.sort(key=lambda c: (-c[0], -c[1], c[2]))
    for _, neg_p, s0, k0 in cands[:40]:
        p = -neg_p
        for shift in range(p + 1):  # rotations of the step, then dropping a first step into the prefix
            s = s0 + shift
            k = (s0 + k0 * p - s) // p
            if k < min_steps:
                break
            lp = _check(nodes, outputs, s, p, k)
            if lp is not None:
                return s, p, k, lp
    return None


def _check(nodes: list[Node], outputs: Mapping[str, Term], s: int, p: int, k: int) -> Loop | None:
    """The loop of ``k`` steps of ``p`` nodes from ``s``, if every step is the previous one shifted."""
    end, last = s + k * p, s + (k - 1) * p
    descs: dict[tuple[int, int], list[tuple]] = {}
    for j in range(k):
        for i in range(p):
            for a, t in enumerate(nodes[s + j * p + i].args):
                if not isinstance(t, Node):
                    desc = ("lit", t)
                elif t.index < s:
                    desc = ("outer", t)
                else:
                    jj, jo = divmod(t.index - s, p)
                    if jj == j:
                        desc = ("local", jo)
                    elif jj == j - 1:
                        desc = ("carried", jo)
                    else:
                        return None
                descs.setdefault((i, a), []).append(desc)
    refs: dict[tuple[int, int], tuple] = {}
    inits: dict[int, Term] = {}
    for key, ds in descs.items():
        first, rest = ds[0], ds[1:]
        kind = rest[0][0]
        if any(d[0] != kind for d in rest):
            return None
        if kind == "lit":
            vals = [d[1] for d in ds]
            if first[0] != "lit":
                return None
            if any(v is None for v in vals):
                if any(v is not None for v in vals):
                    return None
                refs[key] = ("outer", None)
                continue
            step = vals[1] - vals[0]
            if any(v != vals[0] + step * j for j, v in enumerate(vals)):
                return None
            refs[key] = ("lit", vals[0], step)
        elif kind == "outer":
            if any(d[1] is not first[1] for d in ds):
                return None
            refs[key] = first
        elif kind == "local":
            if any(d != first for d in rest) or first != rest[0]:
                return None
            refs[key] = first
        else:  # carried: the first step reads the value from before the loop
            jo = rest[0][1]
            if any(d[1] != jo for d in rest) or first[0] not in ("lit", "outer"):
                return None
            init = first[1]
            if jo in inits and not (inits[jo] is init or (not isinstance(init, Node) and inits[jo] == init)):
                return None
            inits[jo] = init
            refs[key] = rest[0]
    # whatever follows the loop may read only its last step
    after = [t for n in nodes[end:] for t in n.args] + list(outputs.values())
    if any(isinstance(t, Node) and s <= t.index < last for t in after):
        return None
    return Loop(list(nodes[last:end]), k, refs, inits)


def _live(segments: list[Segment], outputs: Mapping[str, Term]) -> list[Segment]:
    """Drop nodes (and loop-body nodes) that no output needs."""
    live: set[int] = set()
    body_live: dict[int, set[int]] = {}
    owner: dict[int, tuple[Loop, int]] = {}
    for seg in segments:
        if isinstance(seg, Loop):
            body_live[id(seg)] = set()
            for i, n in enumerate(seg.body):
                owner[id(n)] = (seg, i)
    todo: list[Node] = [t for t in outputs.values() if isinstance(t, Node)]
    while todo:
        n = todo.pop()
        if id(n) in owner:
            lp, i = owner[id(n)]
            if i in body_live[id(lp)]:
                continue
            body_live[id(lp)].add(i)
            for (bi, _a), ref in lp.refs.items():
                if bi != i:
                    continue
                if ref[0] == "outer" and isinstance(ref[1], Node):
                    todo.append(ref[1])
                elif ref[0] in ("local", "carried"):
                    todo.append(lp.body[ref[1]])
                    if ref[0] == "carried" and isinstance(lp.inits.get(ref[1]), Node):
                        todo.append(lp.inits[ref[1]])
            continue
        if id(n) in live:
            continue
        live.add(id(n))
        todo.extend(t for t in n.args if isinstance(t, Node))
    out: list[Segment] = []
    for seg in segments:
        if isinstance(seg, Loop):
            keep = body_live[id(seg)]
            if not keep:
                continue
            out.append(_compact(seg, keep))
        elif id(seg) in live:
            out.append(seg)
    return out


def _compact(lp: Loop, keep: set[int]) -> Loop:
    order = sorted(keep)
    new = {old: i for i, old in enumerate(order)}
    refs = {}
    for (i, a), ref in lp.refs.items():
        if i in new:
            refs[(new[i], a)] = (ref[0], new[ref[1]]) if ref[0] in ("local", "carried") else ref
    inits = {new[j]: t for j, t in lp.inits.items() if j in new and any(
        r[0] == "carried" and r[1] == new[j] for r in refs.values())}
    return Loop([lp.body[i] for i in order], lp.count, refs, inits)
