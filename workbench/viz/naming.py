"""How views find *steps* in site names (the naming convention the views rely on).

Sketches name their sites; the views read time out of those names. A **variable** is a name
pattern with one ``{t}`` placeholder and its sites are the variable at each **step** ``t``:

* ``base@t`` is variable ``base@{t}`` at step ``t`` (``pos@0``, ``pos@1``, ``halted@3``; the
  step need not be a number: ``halted@init`` is step ``init``);
* otherwise, when the first dotted part of the name ends in digits, those digits are the step:
  ``R2`` is ``R{t}`` at step 2, ``line1.instr`` is ``line{t}.instr`` at step 1,
  ``line3.read_e`` is ``line{t}.read_e`` at step 3;
* any other name (``return``, ``result``, ``add#0``) is a variable of its own with no step
  (:data:`ONCE`).

So naming sites ``f"line{i}.instr"`` and ``f"R{i}"`` in an unrolled loop, and loop-carried state
``f"pos@{t}"``, is all a sketch does to get step-by-step views. Columns are ordered by first
appearance in execution order.

>>> split_name("pos@3"), split_name("line1.instr"), split_name("R0"), split_name("return")
(('pos@{t}', '3'), ('line{t}.instr', '1'), ('R{t}', '0'), ('return', ''))
>>> step_int("line12.read_e")
12
"""

from __future__ import annotations

import re

ONCE = ""  # the step of a variable that has no step
_STEM = re.compile(r"^(?P<stem>[^.@]*?[^\d.@#])(?P<step>\d+)(?P<rest>(\..*)?)$")


def split_name(name: str) -> tuple[str, str]:
    """``(pattern, step)`` of a site name, e.g. ``("line{t}.instr", "1")``; step ``""`` if none."""
    if "@" in name:
        base, _, step = name.rpartition("@")
        if base and step:
            return f"{_escape(base)}@{{t}}", step
    m = _STEM.match(name)
    if m:
        return f"{_escape(m['stem'])}{{t}}{_escape(m['rest'])}", m["step"]
    return _escape(name), ONCE


def _escape(s: str) -> str:
    return s.replace("{", "{{").replace("}", "}}")


def pattern_name(pattern: str, step: str) -> str:
    """The site name of ``pattern`` at ``step`` (inverse of :func:`split_name`)."""
    return pattern.replace("{t}", "\x00").replace("{{", "{").replace("}}", "}").replace("\x00", step)


def step_int(name: str) -> int | None:
    """The step of a site name as an int (``None`` if it has no numeric step)."""
    step = split_name(name)[1]
    return int(step) if step.isdigit() else None


def stem(pattern: str) -> str:
    """The part of a pattern before ``{t}`` (``"line"`` for ``"line{t}.instr"``, ``"pos@"`` for ``pos@{t}``)."""
    return pattern.split("{t}", 1)[0]
