"""PATH_LEN: the data builder's invariants, the intended loop program (100% with perfect LOOK on small
and larger grids, in hard mode and as read-out source), and the sketch's typed errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import workbench as wb
from workbench.core.errors import DataError, DomainError, SignatureError, SketchError
from workbench.data.signs import SIGNS
from workbench.readout import Program
from workbench.tasks.path_len import (
    BLANK,
    STOP,
    Sign,
    describe,
    generalises,
    intended_assignment,
    make_path_grids,
    make_path_labels,
    make_sketch,
    oracle_grids,
    oracle_look,
    perception_oracle,
    perfect_perception_accuracy,
    random_path,
    sign_pool,
    start_cell,
)

_STEP = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}


def _follow(signs: np.ndarray) -> int | None:
    """Follow the arrows from the start (the centre) to a STOP sign: the number of moves (None if it loops)."""
    rows, cols = signs.shape
    r, c = divmod(start_cell(rows, cols), cols)
    assert (r, c) == (rows // 2, cols // 2)
    for moves in range(rows * cols):
        s = int(signs[r, c])
        if s == STOP:
            return moves
        if s not in _STEP:
            return None
        r, c = r + _STEP[s][0], c + _STEP[s][1]
        if not (0 <= r < rows and 0 <= c < cols):
            return None
    return None


# -- data -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows,cols", [(3, 3), (2, 4), (5, 5)])
def test_every_grid_describes_a_path_of_its_length(rows, cols):
    signs, lengths = make_path_labels(120, rows, cols, seed=3)
    assert signs.shape == (120, rows, cols) and lengths.shape == (120,)
    for s, n in zip(signs.numpy(), lengths.tolist()):
        assert _follow(s) == n
        assert (s == STOP).sum() == 1  # exactly one STOP sign: the end of the path
    assert lengths.min() >= 0 and lengths.max() <= rows * cols - 1
    assert len(set(lengths.tolist())) >= min(rows * cols, 20)  # lengths spread over the whole range


def test_lengths_distractors_and_seeding():
    signs, lengths = make_path_labels(400, 4, 4, min_len=2, max_len=5, distractors=0.0, seed=1)
    assert lengths.min() >= 2 and lengths.max() <= 5
    # no distractors: exactly the path's cells carry signs, the rest are blank
    assert ((signs != BLANK).sum((1, 2)) == lengths + 1).all()
    signs_d, lengths_d = make_path_labels(400, 4, 4, distractors=1.0, seed=1)
    assert (signs_d != BLANK).all()  # every off-path cell holds a distractor arrow
    a, b = make_path_labels(50, 4, 4, seed=7), make_path_labels(50, 4, 4, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], make_path_labels(50, 4, 4, seed=8)[0])


def test_random_path_is_self_avoiding_and_adjacent():
    rng = np.random.default_rng(0)
    for length in (0, 1, 10, 35):
        path = random_path(6, 6, length, rng)
        assert len(path) == length + 1 and path[0] == start_cell(6, 6) == 21 and len(set(path)) == len(path)
        for a, b in zip(path, path[1:]):
            assert abs(a // 6 - b // 6) + abs(a % 6 - b % 6) == 1
    with pytest.raises(DataError):
        random_path(3, 3, 9, rng)


def test_images_follow_the_hidden_labels():
    pool = sign_pool(600, seed=5)
    data = make_path_grids(30, 3, 3, seed=2, pool=pool)
    assert data.images.shape == (30, 3, 3, 28, 28) and data.images.dtype == torch.float32
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    inputs, targets = data.examples()
    assert set(inputs) == {"grid"} and torch.equal(targets, data.lengths)  # no labels in training data
    images, labels = pool
    flat = data.images.reshape(-1, 28, 28)
    for k in range(0, flat.shape[0], 7):  # each cell is a pool image of its hidden class
        match = (images == flat[k]).flatten(1).all(-1).nonzero().flatten()
        assert len(match) >= 1 and int(labels[match[0]]) == int(data.signs.reshape(-1)[k])
    again = make_path_grids(30, 3, 3, seed=2, pool=pool)
    assert torch.equal(again.images, data.images)


def test_data_errors_are_typed():
    with pytest.raises(DataError):
        make_path_labels(0, 3, 3)
    with pytest.raises(DataError):
        make_path_labels(10, 3, 3, max_len=9)
    with pytest.raises(DataError):
        make_path_labels(10, 3, 3, min_len=4, max_len=2)
    with pytest.raises(DataError):
        make_path_labels(10, 3, 3, distractors=1.5)
    with pytest.raises(DomainError):
        make_path_labels(10, 0, 3)
    stops_only = (torch.zeros(10, 28, 28), torch.full((10,), STOP))
    with pytest.raises(DataError, match="no 'north'|no 'east'|no 'south'|no 'blank'"):
        make_path_grids(20, 3, 3, seed=0, pool=stops_only)


# -- the intended program ---------------------------------------------------------------------------
@pytest.mark.parametrize("rows,cols", [(2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (3, 7)])
def test_intended_program_is_right_on_small_and_larger_grids(rows, cols):
    assert perfect_perception_accuracy(intended_assignment(), rows, cols, n=150, seed=rows * 10 + cols) == 1.0


def test_intended_program_on_the_longest_paths():
    # Hamiltonian-length paths need every unrolled step: the loop must fit exactly
    assert perfect_perception_accuracy(intended_assignment(), 5, 5, n=40, min_len=24, max_len=24) == 1.0
    assert generalises(intended_assignment(), n=60)


@pytest.mark.parametrize("wrong", [
    {"block0.instr": 1, "block1.instr": 2},            # MOVE; INC: halts on STOP before counting the last arrow
    {"block1.goto": 1},                                # INC once, then MOVE forever: counts 1
    {"block1.goto": 2, "block2.instr": 0, "block2.goto": 0},  # INC; MOVE; NOOP: too slow for the longest paths
    {"block0.instr": 0},                               # NOOP instead of INC: counts nothing
])
def test_wrong_programs_are_judged_wrong(wrong):
    assert not generalises(intended_assignment() | wrong, n=100)


def test_hard_execution_batches_programs():
    signs, lengths = make_path_labels(50, 4, 4, seed=4)
    sk = make_sketch(oracle_look(), 4, 4)
    ok, bad = intended_assignment(), intended_assignment() | {"block0.instr": 1, "block1.instr": 2}
    batched = {k: torch.tensor([ok[k], bad[k]]) for k in ok}
    out = sk.hard(batched, {"grid": oracle_grids(signs)}, net_forward=perception_oracle)["output"]
    pred = out.probs.argmax(-1)
    assert pred.shape == (2, 50)
    assert torch.equal(pred[0], lengths)
    assert torch.equal(pred[1], (lengths - 1).clamp(min=0))  # the off-by-one program


def test_readout_source_runs_and_agrees():
    prog = Program(make_sketch(oracle_look(), 3, 3), intended_assignment())
    assert "inc(" in prog.source and "move(" in prog.source and "look(" in prog.source
    signs, lengths = make_path_labels(20, 3, 3, seed=9)
    fn = prog.compile(perception={"look": lambda x: int(x[0, 0])})
    assert [fn(g) for g in oracle_grids(signs)] == lengths.tolist()
    listing = describe(intended_assignment())
    assert "block0: INC; goto block1" in listing and "block1: MOVE; goto block0" in listing
    assert "block2: NOOP; goto block0   (unreachable)" in listing


def test_soft_execution_is_a_distribution_and_differentiable():
    look = wb.NeuralFunction("look", nn.Sequential(nn.Flatten(), nn.Linear(784, 6)), input=wb.Image28, output=Sign)
    sk = make_sketch(look, 3, 3)
    data = make_path_grids(4, 3, 3, seed=1, pool=sign_pool(120, seed=1))
    info = sk.discover({"grid": data.images})
    assert set(info.holes) == {f"block{b}.{k}" for b in range(3) for k in ("instr", "goto")}
    holes = {k: torch.randn(2, d.size, requires_grad=True) for k, d in info.holes.items()}
    out = sk.soft(holes, {"grid": data.images})["output"].probs
    assert out.shape == (2, 4, 9)
    # INC past the top of the count domain drops mass, so a sum may fall short of 1, never exceed it
    assert ((out.sum(-1) > 0.5) & (out.sum(-1) < 1 + 1e-3)).all()
    holes64 = {k: v.detach().double() for k, v in holes.items()}
    out64 = sk.soft(holes64, {"grid": data.images}, dtype=torch.float64)["output"].probs
    assert (out64.sum(-1) < 1 + 1e-9).all()  # rounding error does not compound over the unrolled steps
    out[..., 2].sum().backward()
    assert holes["block0.instr"].grad.abs().sum() > 0
    assert look.module[1].weight.grad.abs().sum() > 0  # LOOK learns through the program


def test_soft_with_one_hot_holes_and_perfect_look_is_exact():
    signs, lengths = make_path_labels(30, 3, 3, seed=6)
    sk = make_sketch(oracle_look(), 3, 3)
    holes = {k: torch.nn.functional.one_hot(torch.tensor([v]), d.size).float() * 60.0
             for (k, v), d in zip(intended_assignment().items(),
                                  [sk.discover({"grid": oracle_grids(signs)}).holes[k] for k in intended_assignment()])}
    out = sk.soft(holes, {"grid": oracle_grids(signs)}, net_forward=perception_oracle)["output"].probs[0]
    assert torch.equal(out.argmax(-1), lengths)
    assert float(out.max(-1).values.min()) > 0.99


# -- sketch errors ----------------------------------------------------------------------------------
def test_sketch_errors_are_typed():
    digit = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), input=wb.Image28,
                              output=wb.Domain("Digit", 10))
    with pytest.raises(SignatureError, match="LOOK"):
        make_sketch(digit, 3, 3)
    with pytest.raises(SignatureError):
        make_sketch(nn.Linear(784, 6), 3, 3)
    with pytest.raises(DomainError):
        make_sketch(oracle_look(), 1, 1)
    with pytest.raises(DomainError):
        make_sketch(oracle_look(), 3, -2)
    with pytest.raises(SketchError):
        make_sketch(oracle_look(), 3, 3, blocks=0)
    with pytest.raises(SketchError):
        make_sketch(oracle_look(), 3, 3, steps=0)
    sk = make_sketch(oracle_look(), 3, 3)
    with pytest.raises(DataError):  # a 4x4 grid fed to the 3x3 sketch
        sk.hard(intended_assignment(), {"grid": oracle_grids(make_path_labels(2, 4, 4)[0])})
    with pytest.raises(SketchError, match="block1.goto"):
        sk.hard({k: v for k, v in intended_assignment().items() if k != "block1.goto"},
                {"grid": oracle_grids(make_path_labels(2, 3, 3)[0])}, net_forward=perception_oracle)
    with pytest.raises(DomainError):
        sk.hard(intended_assignment() | {"block0.instr": 3},
                {"grid": oracle_grids(make_path_labels(2, 3, 3)[0])}, net_forward=perception_oracle)


def test_signs_are_the_synthetic_classes():
    assert Sign.labels == SIGNS and Sign.size == 6


def test_look_net_is_a_registered_architecture():
    from workbench.nets import build
    from workbench.tasks.path_len import make_look

    look = make_look(seed=0)
    assert look.arch == ("sign_cnn", {"out": 6, "width": 8}) and look.output == Sign
    assert build("sign_cnn", out=6, width=8)(torch.zeros(3, 28, 28)).shape == (3, 6)
    assert look.predict(torch.zeros(5, 28, 28)).shape == (5,)
