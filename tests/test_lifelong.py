"""The lifelong driver: the small ADD2x2 demo (top row, then left column reusing the library's digit
net), forgetting / reverse-transfer arithmetic, schedules, and the typed errors."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import nets
from workbench.core import (
    ConfigError,
    Domain,
    Image28,
    NeuralFunction,
    TensorType,
    WorkbenchError,
    choose,
    hole,
    sketch,
)
from workbench.data import embedded_split, make_grid_dataset, normalize
from workbench.library import Library
from workbench.lifelong import (
    LifelongError,
    MissingLibraryFunctionError,
    Schedule,
    Task,
    UntrainedNetworksError,
    forgetting,
    reverse_transfer,
    run_lifelong,
)
from workbench.tasks.add2x2 import Digit, make_sketch, perfect_perception_accuracy
from workbench.train import TrainConfig

# -- the lifelong demo at small size ----------------------------------------------------------------
# Measured at this size (seeds 0-6, one thread, 14-16 s CPU, 24-45 s wall on busy cores): every run
# found both correct programs, forgetting on the first task was 0.000 each time and its reverse
# transfer +0.006 to +0.050. A small MLP digit net keeps it fast (benchmarks/ uses LeNet).
DEMO = TrainConfig(restarts=3, steps=600, batch_size=32, hole_lr=0.05, net_lr=2e-3, validate_every=50,
                   val_size=300, target_accuracy=0.9, patience=3)
DIGIT_NET = {"out": 10, "hidden": [64]}


def _make_add2x2(neural):
    digit = neural.get("digit") or NeuralFunction("digit", nets.build("mlp", **DIGIT_NET), input=Image28,
                                                  output=Digit, arch=("mlp", DIGIT_NET))
    return make_sketch(digit)


def _add2x2_task(split, where: str, k: int, uses: tuple[str, ...] = ()) -> Task:
    grids = make_grid_dataset  # train / val from the training digits, test from the held-out digits
    return Task(f"add2x2_{where}", _make_add2x2,
                train=grids(split.train_images, split.train_labels, n=2000, task=where, seed=10 + k),
                val=grids(split.train_images, split.train_labels, n=300, task=where, seed=20 + k),
                test=grids(split.test_images, split.test_labels, n=500, task=where, seed=30 + k),
                uses=uses, judge=lambda p: perfect_perception_accuracy(p, where) == 1.0,
                data=f"2000 ADD2x2/{where} grids of embedded MNIST digits")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    split = embedded_split(seed=0)
    location = tmp_path_factory.mktemp("lifelong_lib")
    tasks = [_add2x2_task(split, "top", 0), _add2x2_task(split, "left", 1, uses=("digit",))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two shared cores double the CPU time
    try:
        result = run_lifelong(tasks, library=str(location), schedule=Schedule("mixture", steps=100), config=DEMO,
                              seed=0)
    finally:
        torch.set_num_threads(threads)
    return result, Library(str(location))


def test_demo_matrix_has_one_row_per_stage_and_one_column_per_task(demo):
    result, _ = demo
    assert result.tasks == ["add2x2_top", "add2x2_left"]
    assert len(result.accuracy) == 2 and all(len(row) == 2 for row in result.accuracy)
    assert result.accuracy[0][1] is None  # task 2 not seen yet after stage 1
    assert all(0.0 <= a <= 1.0 for row in result.accuracy for a in row if a is not None)


def test_demo_learns_both_programs_and_does_not_forget(demo):
    result, _ = demo
    assert result.correct == {"add2x2_top": True, "add2x2_left": True}
    top = [row[0] for row in result.accuracy]
    assert result.forgetting["add2x2_top"] == pytest.approx(max(0.0, max(top) - top[-1]))
    assert result.reverse_transfer["add2x2_top"] == pytest.approx(top[-1] - top[0])
    assert result.forgetting["add2x2_top"] <= 0.05
    assert min(result.final.values()) >= 0.75
    assert set(result.forgetting) == set(result.reverse_transfer) == {"add2x2_top"}  # earlier tasks only


def test_demo_reuses_the_library_net(demo):
    result, _ = demo
    first, second = result.stages
    assert second.steps_to(0.9) is not None and second.steps_to(0.9) <= 150  # the library net already reads digits
    assert first.joint_steps == {"add2x2_top": 100}
    # the validation curve goes on through joint training, counting only the new task's own steps
    assert second.val_steps == sorted(second.val_steps)
    assert second.val_steps[-1] == second.search_steps + second.joint_steps["add2x2_left"]
    assert second.joint_steps["add2x2_left"] > second.joint_steps["add2x2_top"] > 0  # newest task gets most


def test_demo_publishes_with_parent_provenance(demo):
    result, library = demo
    history = library.history("digit")
    assert [(ev.version, ev.parent, ev.task) for ev in history] == [(1, None, "add2x2_top"), (2, 1, "add2x2_left")]
    assert [(p.ref, p.parent, p.stage) for p in result.published] == [("digit@1", None, 0), ("digit@2", 1, 1)]
    assert "ADD2x2/top" in history[0].dataset and "ADD2x2/left" in history[1].dataset
    assert history[1].metrics["add2x2_left.test_accuracy"] == pytest.approx(result.accuracy[1][1])
    loaded = library.load("digit")
    assert loaded.origin["version"] == 2
    split = embedded_split(seed=0)
    digit_acc = float((loaded.predict(normalize(split.test_images[:500])) == split.test_labels[:500]).float().mean())
    assert digit_acc > 0.8  # a digit classifier learned from sums only


def test_demo_result_serialises_and_summarises(demo):
    result, _ = demo
    data = json.loads(result.to_json())
    assert data["accuracy"][0][1] is None and data["forgetting"].keys() == {"add2x2_top"}
    assert "digit(grid[1, 0])" in data["programs"]["add2x2_left"]  # the bottom-left cell, by (row, col)
    text = result.summary()
    assert "forgetting" in text and "digit@2" in text and "parent digit@1" in text


# -- arithmetic ------------------------------------------------------------------------------------
def test_forgetting_and_reverse_transfer_on_a_hand_made_matrix():
    m = [[0.80, None, None],
         [0.90, 0.70, None],
         [0.85, 0.75, 0.60]]
    assert forgetting(m) == pytest.approx([0.05, 0.0])     # best 0.90 -> final 0.85; 0.75 is its best
    assert reverse_transfer(m) == pytest.approx([0.05, 0.05])  # 0.85 - 0.80; 0.75 - 0.70
    assert forgetting([[0.5]]) == [] and reverse_transfer([[0.5]]) == []
    assert forgetting([[0.9, None], [0.4, 0.8]]) == pytest.approx([0.5])
    assert reverse_transfer([[0.9, None], [0.4, 0.8]]) == pytest.approx([-0.5])  # negative transfer is kept


@pytest.mark.parametrize("bad", [[], [[0.5, 0.2]], [[0.5, None], [0.4, None]], [[None, None], [0.1, 0.2]]])
def test_malformed_matrices_are_rejected(bad):
    with pytest.raises(LifelongError):
        forgetting(bad)


def test_schedules_share_and_interleave_steps():
    seq = Schedule("sequential", steps=100, chunk=30)
    assert seq.shares(3) == [0.0, 0.0, 1.0]
    assert seq.plan(2) == [(1, 30), (1, 30), (1, 30), (1, 10)]
    mix = Schedule("mixture", steps=70, decay=0.5, chunk=10)
    assert mix.shares(3) == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    plan = mix.plan(3)
    assert sum(n for _, n in plan) == 70
    assert {i: sum(n for j, n in plan if j == i) for i in range(3)} == {0: 10, 1: 20, 2: 40}
    assert plan[0][0] == 2 and len({i for i, _ in plan[:4]}) == 3  # interleaved, newest first
    assert Schedule("mixture", steps=0).plan(2) == []
    for kw in ({"kind": "random"}, {"steps": -1}, {"decay": 1.5}, {"chunk": 0}):
        with pytest.raises(ConfigError):
            Schedule(**kw)


# -- typed errors and the symmetry-breaking rule ----------------------------------------------------
Vec4 = TensorType("Vec4", (4,))
Bit = Domain("Bit", 2)
Which = Domain("Which", 2)
TINY = TrainConfig(restarts=2, steps=10, batch_size=16, validate_every=5, val_size=32)


def _tiny_net(name: str) -> NeuralFunction:
    kwargs = {"in_shape": [4], "out": 2, "hidden": [8]}
    return NeuralFunction(name, nets.build("mlp", **kwargs), input=Vec4, output=Bit, arch=("mlp", kwargs))


def _two_nets(neural):
    a = neural.get("a") or _tiny_net("a")
    b = neural.get("b") or _tiny_net("b")

    @sketch(inputs={"x": Vec4}, output=Bit, name="pick")
    def pick(x):
        return choose(hole("which", Which), [a(x), b(x)])

    return pick


def _one_net(neural):
    a = neural.get("a") or _tiny_net("a")

    @sketch(inputs={"x": Vec4}, output=Bit, name="sign")
    def sign(x):
        return choose(hole("flip", Which), [a(x), a(x, name="again")])

    return sign


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return {"x": x}, (x[:, 0] > 0).long()


def _task(name: str, make, uses: tuple[str, ...] = ()) -> Task:
    return Task(name, make, _data(64, 0), _data(32, 1), _data(32, 2), uses=uses)


def test_two_untrained_nets_in_one_task_are_refused(tmp_path):
    with pytest.raises(UntrainedNetworksError, match="interchangeable") as info:
        run_lifelong([_task("pick", _two_nets)], library=str(tmp_path), config=TINY)
    assert "a, b" in str(info.value) and "allow_multiple_untrained" in str(info.value)
    assert isinstance(info.value, WorkbenchError)
    assert Library(str(tmp_path)).list() == []  # refused before training or publishing anything


def test_allow_multiple_untrained_lets_them_through(tmp_path):
    result = run_lifelong([_task("pick", _two_nets)], library=str(tmp_path), config=TINY,
                          schedule=Schedule(steps=5), allow_multiple_untrained=True)
    assert len(result.accuracy) == 1 and result.forgetting == {}
    assert sorted(p.ref for p in result.published) == ["a@1", "b@1"]


def test_one_untrained_net_per_task_once_the_first_is_in_the_library(tmp_path):
    lib = Library(str(tmp_path))
    lib.publish(_tiny_net("a"), task="pretraining")  # 'a' is trained: only 'b' is new in this task
    result = run_lifelong([_task("pick", _two_nets, uses=("a",))], library=lib, config=TINY, schedule=Schedule(steps=5))
    assert {p.ref: p.parent for p in result.published} == {"a@2": 1, "b@1": None}


def test_unknown_library_function_is_a_typed_error(tmp_path):
    with pytest.raises(MissingLibraryFunctionError, match="'digit'") as info:
        run_lifelong([_task("sign", _one_net, uses=("digit",))], library=str(tmp_path), config=TINY)
    assert "publish 'digit' first" in str(info.value)


@pytest.mark.parametrize("tasks, match", [
    ([], "at least one task"),
    ([_task("t", _one_net), _task("t", _one_net)], "unique"),
    ([_task("t", _one_net), _task("u", _one_net)], "already provides"),       # a second fresh 'a'
    ([_task("t", _one_net), _task("u", lambda neural: _one_net({}), uses=("a",))], "ignored"),
    ([_task("t", lambda neural: "not a sketch")], "not a Sketch"),
    ([_task("t", _one_net, uses=("a", "b"))], "not in library"),
])
def test_bad_task_lists_fail_before_training(tmp_path, tasks, match):
    with pytest.raises(LifelongError, match=match):
        run_lifelong(tasks, library=str(tmp_path), config=TINY)
    assert Library(str(tmp_path)).list() == []


def test_bad_task_fields_and_arguments(tmp_path):
    with pytest.raises(LifelongError, match="no val data"):
        Task("t", _one_net, _data(8, 0), None, _data(8, 1))
    with pytest.raises(LifelongError, match="non-empty"):
        Task("", _one_net, _data(8, 0), _data(8, 1), _data(8, 2))
    with pytest.raises(ConfigError):
        run_lifelong([_task("t", _one_net)], library=str(tmp_path), shared_lr=-1.0)
    with pytest.raises(ConfigError):
        run_lifelong([_task("t", _one_net)], library=str(tmp_path), schedule="mixture")
