"""The ambiguity report (workbench.ambiguity): data-equivalent programs, distinguishing inputs, resume."""

from __future__ import annotations

import torch

import workbench as wb
from workbench.ambiguity import Probe, report
from workbench.core import Domain
from workbench.train import TrainConfig, fit, resume

X = Domain("X5", 5)
Op = Domain.enum("Op", ["ID", "CLIP2", "ZERO", "PLUS1"])
APPLY = wb.FiniteFunction("apply_op", lambda o, x: [x, min(x, 2), 0, (x + 1) % 5][o], inputs=(Op, X), output=X)


@wb.sketch(inputs={"x": X}, output=X)
def tiny(x):
    return APPLY(wb.hole("op", Op), x)


def _data(xs, n=200, seed=0):
    """Examples of the intended program (the identity) on inputs drawn from ``xs``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor(xs)[torch.randint(0, len(xs), (n,), generator=g)]
    return {"x": x}, x.clone()


TRAIN, VAL = _data([0, 1, 2]), _data([0, 1, 2], 60, seed=1)  # on 0..2, ID and CLIP2 are data-equivalent
PROBE = Probe({"x": torch.arange(5)}, labels=torch.arange(5), describe=lambda i: f"x={i}", name="x in 0..4")
CFG = TrainConfig(restarts=8, steps=40, batch_size=16, hole_lr=0.1, validate_every=10, seed=0)


def test_report_names_the_ambiguity_and_a_distinguishing_input():
    res = fit(tiny, TRAIN, val=VAL, config=CFG)
    found = {r.assignment["op"] for r in res.restarts}
    assert found == {0, 1}                                  # both data-equivalent programs were found
    rep = report(res, PROBE)
    assert rep.ambiguous and len(rep.best) == 2
    assert {tuple(sorted(a["op"] for a in g.assignments)) for g in rep.best} == {(0,), (1,)}
    assert sorted(d.index for d in rep.distinguishing) == [3, 4]   # where min(x, 2) != x
    d = rep.distinguishing[0]
    assert sorted(d.answers.values()) == [2, d.index] and d.label == d.index
    assert "compute 2 different things" in rep.line() and "on x=" in rep.line()
    # the result itself says so: without a probe its report still groups the programs and notes the doubt
    assert "2 of 2 distinct programs fit the data equally well" in res.summary()
    assert "x=" in repr(rep) and rep.to_dict()["ambiguous"] is True


def test_adding_the_distinguishing_input_makes_fit_return_the_intended_program():
    res = fit(tiny, TRAIN, val=VAL, config=CFG)
    rep = report(res, PROBE)
    extra = rep.examples(1)                                 # one labelled distinguishing input
    assert extra[0]["x"].tolist() in ([3], [4]) and extra[1]["output"].tolist() == extra[0]["x"].tolist()
    more = resume(res, TRAIN, extra=extra, val=VAL, config=CFG.replace(search="moves"))
    assert all(r.assignment == {"op": 0} for r in more.restarts)   # every restart: the identity
    assert more.program(4) == 4
    assert not report(more, PROBE).ambiguous
    # plain fit with the example in its training data returns the intended program too
    x = torch.cat([TRAIN[0]["x"], extra[0]["x"].repeat(20)])
    again = fit(tiny, ({"x": x}, x.clone()), val=VAL, config=CFG)
    assert again.program(3) == 3 and again.program(4) == 4


def test_report_groups_programs_by_what_they_compute():
    # two hole values that compute the same thing on every input form one behaviour
    Sel = Domain("Sel3", 3)
    same = wb.FiniteFunction("same", lambda s, x: x if s < 2 else 0, inputs=(Sel, X), output=X)

    @wb.sketch(inputs={"x": X}, output=X)
    def twin(x):
        return same(wb.hole("s", Sel), x)

    res = fit(twin, _data([0, 1, 2, 3, 4]), val=_data([0, 1, 2, 3, 4], 60, seed=1),
              config=CFG.replace(restarts=6, steps=60))
    rep = report(res, PROBE)
    assert {a["s"] for r in [rep.best[0]] for a in r.assignments} == {0, 1}
    assert not rep.ambiguous and len(rep.best) == 1 and rep.distinct_programs == 2
    assert "they compute the same" in rep.line()


def test_report_shows_as_a_rich_view_and_in_the_summary_once_a_probe_is_attached():
    from workbench.viz.reprs import bundle

    res = fit(tiny, TRAIN, val=VAL, config=CFG)
    b = bundle(report(res, PROBE))
    assert set(b) == {"application/vnd.ntpt.ambiguity+json", "text/html", "text/plain"}
    assert b["application/vnd.ntpt.ambiguity+json"]["ambiguous"] is True
    assert "x=3" in b["text/html"] and "behaviour 1" in b["text/plain"]
    res.probe = PROBE
    assert "compute 2 different things" in res.summary()
