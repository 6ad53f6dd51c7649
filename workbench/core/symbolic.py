"""The read-out interpretation: partial evaluation with every hole known and the inputs unknown.

Holes become constants, constant sub-expressions are folded, a ``choose`` with a known selector
keeps only the chosen alternative, repeated expressions are shared and unused lines dropped. What
remains is the discrete program, emitted as plain Python source over ints and tensors.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping

from .errors import SketchError
from .runtime import Handler, Message
from .values import IndexedRef, Sym, TensorRef

_MARK = re.compile(r"\x01(\d+)\x02")


def _ref(i: int) -> str:
    return f"\x01{i}\x02"


class SymbolicInterpreter(Handler):
    def __init__(self, assignment: Mapping[str, int]):
        self.assignment = assignment
        self.lines: list[tuple[str, str, set[int]]] = []  # (site name, expr, deps)
        self.names: dict[int, str] = {}  # line -> let-name
        self._cse: dict[str, int] = {}
        self.functions: dict[str, object] = {}
        self.neural: dict[str, object] = {}

    # -- emission ----------------------------------------------------------------------------------
    def _emit(self, site: str, expr: str, domain, deps: set[int]) -> Sym:
        if expr in self._cse:
            i = self._cse[expr]
        else:
            i = len(self.lines)
            self.lines.append((site, expr, deps))
            self._cse[expr] = i
        return Sym(domain, site, expr=_ref(i))

    @staticmethod
    def _deps(*syms: Sym) -> set[int]:
        out: set[int] = set()
        for s in syms:
            if s.const is None:
                out |= {int(m) for m in _MARK.findall(s.expr)}
        return out

    # -- primitives --------------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        getattr(self, "_" + msg.kind)(msg)

    def _hole(self, msg: Message) -> None:
        (domain,) = msg.args
        if msg.name not in self.assignment:
            raise SketchError(f"hole '{msg.name}' has no value in the read-out assignment", site=msg.name)
        msg.value = Sym(domain, msg.name, const=domain.check(int(self.assignment[msg.name]), site=msg.name))

    def _const(self, msg: Message) -> None:
        domain, value = msg.args
        msg.value = Sym(domain, msg.name, const=value)

    def _input(self, msg: Message) -> None:
        domain, expr = msg.args
        msg.value = Sym(domain, msg.name, expr=expr)

    def _fn(self, msg: Message) -> None:
        f, *args = msg.args
        self.functions[f.name] = f
        if all(a.const is not None for a in args):
            out = f.apply_int(*(a.const for a in args))
            if out is not None:
                msg.value = Sym(f.output, msg.name, const=out)
                return
        text = f"{f.name}({', '.join(a.text for a in args)})"
        msg.value = self._emit(msg.name, text, f.output, self._deps(*args))

    def _cast(self, msg: Message) -> None:
        v, domain = msg.args
        if v.const is not None:
            msg.value = Sym(domain, msg.name, const=v.const if v.const < domain.size else None)
            if msg.value.const is None:
                msg.value = Sym(domain, msg.name, expr="None")
            return
        if domain.size >= v.domain.size:
            msg.value = Sym(domain, msg.name, expr=v.expr)
        else:
            msg.value = self._emit(msg.name, f"_cast({v.text}, {domain.size})", domain, self._deps(v))

    def _choose(self, msg: Message) -> None:
        sel, alts = msg.args
        if sel.const is not None:
            if not 0 <= sel.const < len(alts):
                raise SketchError(f"selector value {sel.const} has no alternative", site=msg.name)
            a = alts[sel.const]
            v = a() if callable(a) else a
            msg.value = Sym(v.domain, msg.name, const=v.const, expr=v.expr)
            return
        vals = [a() if callable(a) else a for a in alts]
        if len(vals) == 2 and sel.domain.size == 2:
            text = f"({vals[1].text} if {sel.text} else {vals[0].text})"
        else:
            text = f"_pick({sel.text}, ({', '.join(v.text for v in vals)},))"
        msg.value = self._emit(msg.name, text, vals[0].domain, self._deps(sel, *vals))

    def _let(self, msg: Message) -> None:
        (v,) = msg.args
        if v.const is None:
            m = _MARK.fullmatch(v.expr)
            if m is not None and int(m.group(1)) not in self.names:
                self.names[int(m.group(1))] = msg.name
            elif m is None:
                msg.value = self._emit(msg.name, v.expr, v.domain, self._deps(v))
                self.names[int(_MARK.fullmatch(msg.value.expr).group(1))] = msg.name
                return
        msg.value = Sym(v.domain, msg.name, const=v.const, expr=v.expr)

    def _neural(self, msg: Message) -> None:
        nf, x = msg.args
        self.neural[nf.name] = nf
        if isinstance(x, TensorRef):
            text, deps = f"{nf.name}({x.expr})", set()
        else:
            assert isinstance(x, IndexedRef)
            rank = len(x.type.shape)
            text, deps = f"{nf.name}(_cell({x.cells.expr}, {x.pos.text}, {rank}))", self._deps(x.pos)
        msg.value = self._emit(msg.name, text, nf.output, deps)

    # -- rendering ---------------------------------------------------------------------------------
    def render(self, fn_name: str, params: list[str], outputs: Mapping[str, Sym], single: bool) -> str:
        live: set[int] = set()
        todo = [i for s in outputs.values() for i in self._deps(s)]
        while todo:
            i = todo.pop()
            if i not in live:
                live.add(i)
                todo.extend(self.lines[i][2])
        taken = set(params) | set(self.functions) | set(self.neural) | {"_cell", "_pick", "_cast", fn_name}
        var: dict[int, str] = {}
        for i in sorted(live):
            base = re.sub(r"\W", "_", self.names.get(i, self.lines[i][0])).strip("_") or "v"
            if base[0].isdigit() or keyword.iskeyword(base):
                base = "v_" + base
            name, k = base, 1
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            var[i] = name

        def sub(text: str) -> str:
            return _MARK.sub(lambda m: var[int(m.group(1))], text)

        body = [f"    {var[i]} = {sub(self.lines[i][1])}" for i in sorted(live)]
        if single:
            (out,) = outputs.values()
            body.append(f"    return {sub(out.text)}")
        else:
            items = ", ".join(f"{k!r}: {sub(v.text)}" for k, v in outputs.items())
            body.append(f"    return {{{items}}}")
        return f"def {fn_name}({', '.join(params)}):\n" + "\n".join(body) + "\n"
