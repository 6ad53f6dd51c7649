"""The read-out interpretation: partial evaluation with every hole known and the inputs unknown.

Holes become literals, constant sub-expressions fold, a ``choose`` with a known selector keeps only
the chosen alternative and one whose alternatives are all the same value folds to it, repeated
operations are shared. What remains is the discrete program as IR nodes (:mod:`.program`), which
:func:`~.program.roll` turns into a :class:`~.program.Graph` with its loops rolled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SketchError
from .program import Graph, Node, Term, roll
from .runtime import Handler, Message
from .values import IndexedRef, Sym, TensorRef


class SymbolicInterpreter(Handler):
    def __init__(self, assignment: Mapping[str, int]):
        self.assignment = assignment
        self.nodes: list[Node] = []
        self._cse: dict[tuple, Node] = {}
        self._neural_sites: dict[str, tuple[Any, str]] = {}

    def _node(self, name: str, op: str, domain, *, target: Any = None, args: tuple = (), read=None) -> Node:
        key = (op, name if op == "input" else id(target), domain, read, tuple(("n", id(a)) if isinstance(a, Node) else ("v", a) for a in args))
        node = self._cse.get(key)
        if node is None:
            node = Node(name, op, domain, target, tuple(args), read)
            self.nodes.append(node)
            self._cse[key] = node
        return node

    def graph(self, name: str, params: list[str], outputs: Mapping[str, Sym], single: bool,
              lengths: Mapping[str, int]) -> Graph:
        return roll(name, params, self.nodes, {k: v.term for k, v in outputs.items()}, single=single,
                    lengths=lengths)

    # -- primitives --------------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        getattr(self, "_" + msg.kind)(msg)

    def _hole(self, msg: Message) -> None:
        (domain,) = msg.args
        if msg.name not in self.assignment:
            raise SketchError(f"hole '{msg.name}' has no value in the read-out assignment", site=msg.name,
                              hint=f"give every hole a value; this one ranges over {domain!r}")
        msg.value = Sym(domain, msg.name, domain.check(int(self.assignment[msg.name]), site=msg.name))

    def _const(self, msg: Message) -> None:
        domain, value = msg.args
        msg.value = Sym(domain, msg.name, value)

    def _input(self, msg: Message) -> None:
        domain, param = msg.args
        msg.value = Sym(domain, msg.name, self._node(param, "input", domain))

    def _fn(self, msg: Message) -> None:
        f, *args = msg.args
        terms = [a.term for a in args]
        if any(t is None for t in terms):
            msg.value = Sym(f.output, msg.name, None)  # no value in, no value out (as hard execution drops it)
        elif all(a.known for a in args):
            msg.value = Sym(f.output, msg.name, f.apply_int(*terms))
        else:
            msg.value = Sym(f.output, msg.name, self._node(msg.name, "fn", f.output, target=f, args=tuple(terms)))

    def _is(self, msg: Message) -> None:
        v, c, domain = msg.args
        if v.known:
            msg.value = Sym(domain, msg.name, None if v.term is None else int(v.term == c))
        else:
            msg.value = Sym(domain, msg.name, self._node(msg.name, "is", domain, args=(v.term, c)))

    def _cast(self, msg: Message) -> None:
        v, domain = msg.args
        if v.known:
            t = v.term
            msg.value = Sym(domain, msg.name, t if t is None or t < domain.size else None)
        elif domain.size >= v.domain.size:
            msg.value = Sym(domain, msg.name, v.term)  # a widening cast changes no value
        else:
            msg.value = Sym(domain, msg.name, self._node(msg.name, "cast", domain, args=(v.term,)))

    def _choose(self, msg: Message) -> None:
        sel, alts = msg.args
        if sel.known:
            if sel.term is None:
                raise SketchError(f"selector of '{msg.name}' has no value", site=msg.name)
            if not 0 <= sel.term < len(alts):
                raise SketchError(f"selector value {sel.term} has no alternative", site=msg.name)
            a = alts[sel.term]
            v = a() if callable(a) else a
            msg.value = Sym(v.domain, msg.name, v.term)
            return
        vals = [a() if callable(a) else a for a in alts]
        terms: list[Term] = [v.term for v in vals]
        first = terms[0]
        if all(t is first or (not isinstance(t, Node) and t == first and not isinstance(first, Node)) for t in terms):
            msg.value = Sym(vals[0].domain, msg.name, first)  # every alternative is the same value
            return
        msg.value = Sym(vals[0].domain, msg.name,
                        self._node(msg.name, "choose", vals[0].domain, args=(sel.term, *terms)))

    def _let(self, msg: Message) -> None:
        (v,) = msg.args
        if isinstance(v.term, Node) and v.term.label is None and v.term.op != "input":
            v.term.label = msg.name
        msg.value = Sym(v.domain, msg.name, v.term)

    def _neural(self, msg: Message) -> None:
        nf, x = msg.args
        seen = self._neural_sites.setdefault(nf.name, (nf, msg.name))
        if seen[0] is not nf:
            raise SketchError(f"two different neural functions are named '{nf.name}' (sites '{seen[1]}' and "
                              f"'{msg.name}')", site=msg.name,
                              hint="give each NeuralFunction its own name, or call the same object at both sites")
        if isinstance(x, TensorRef):
            read, args = x.read, (() if x.read.kind == "tensor" else (x.read.cell,))
            read = type(read)(read.input, read.kind, read.cols) if read.kind != "tensor" else read
        else:
            assert isinstance(x, IndexedRef)
            read, args = x.cells.read(), (x.pos.term,)
            if x.pos.term is None:
                msg.value = Sym(nf.output, msg.name, None)
                return
        msg.value = Sym(nf.output, msg.name, self._node(msg.name, "neural", nf.output, target=nf, args=args,
                                                        read=read))
