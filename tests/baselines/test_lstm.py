"""The MATH LSTM baseline at a tiny size: shapes, a short training run lowers the loss, evaluation by length."""

from __future__ import annotations

import pytest
import torch

from workbench.baselines import (
    VALUES,
    LibraryEncoder,
    LSTMBaseline,
    LSTMConfig,
    MathTapes,
    accuracy_by_length,
    make_tapes,
    math_tapes,
    train_lstm,
)
from workbench.core.errors import ConfigError, DataError
from workbench.tasks.math_tape import evaluate


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads on shared cores only add overhead
    yield
    torch.set_num_threads(threads)


TINY = LSTMConfig(embed_dim=8, embed_hidden=16, hidden=16, layers=2, steps=60, batch_size=32, lr=1e-2,
                  validate_every=20, seed=0)


def _pools():
    """Label-coded 'images': digit d is a flat image of value 20*d, operator o one of value 25 + 50*o,
    plus a little noise; enough for a tiny net to tell the symbols apart quickly."""
    g = torch.Generator().manual_seed(0)
    dl = torch.arange(10).repeat(6)
    ol = torch.arange(4).repeat(6)
    di = (dl.view(-1, 1, 1) * 20 + torch.randint(0, 5, (len(dl), 28, 28), generator=g)).to(torch.uint8)
    oi = (25 + ol.view(-1, 1, 1) * 50 + torch.randint(0, 5, (len(ol), 28, 28), generator=g)).to(torch.uint8)
    return (di, dl), (oi, ol)


@pytest.mark.parametrize("embed", ["mlp", "cnn"])
def test_forward_shapes_for_any_tape_length(embed):
    model = LSTMBaseline(TINY.replace(embed=embed))
    for length in (1, 3, 7):
        out = model(torch.randn(5, length, 28, 28))
        assert out.shape == (5, VALUES)
    pred = model.predict(torch.randn(7, 5, 28, 28), chunk=3)
    assert pred.shape == (7,) and pred.dtype == torch.long and int(pred.max()) < VALUES


def test_paper_sizes_are_the_defaults():
    model = LSTMBaseline()
    assert model.lstm.hidden_size == 256 and model.lstm.num_layers == 2
    assert model.head.out_features == 19


def test_tapes_put_digits_and_operators_at_their_places():
    digits, ops = _pools()
    sym = torch.tensor([[3, 0, 4, 2, 2], [9, 3, 0, 1, 7]])
    tapes = make_tapes(sym, digits, ops, seed=0)
    assert tapes.shape == (2, 5, 28, 28) and tapes.dtype == torch.float32
    raw = (tapes * 0.3081 + 0.1307) * 255  # undo normalize: the image's class is its base value
    base = raw.amin(dim=(-1, -2)).round()
    expected = torch.where(torch.arange(5) % 2 == 0, sym * 20.0, 25 + sym * 50.0)
    assert torch.allclose(base, expected, atol=1.0)


def test_math_tapes_values_follow_the_symbols():
    digits, ops = _pools()
    ds = math_tapes(20, 3, digit_pool=digits, op_pool=ops, seed=4)
    assert isinstance(ds, MathTapes) and len(ds) == 20
    assert ds.tapes.shape == (20, 5, 28, 28) and ds.inputs["tape"] is ds.tapes
    assert ds.values.tolist() == [evaluate(s.tolist()) for s in ds.symbols]


def test_a_tiny_training_run_reduces_the_loss():
    digits, ops = _pools()
    train = math_tapes(256, 2, digit_pool=digits, op_pool=ops, seed=1)
    val = math_tapes(64, 2, digit_pool=digits, op_pool=ops, seed=2)
    fit = train_lstm(train, val=val, config=TINY)
    assert len(fit.losses) == TINY.steps and fit.val_steps == [20, 40, 60]
    first, last = sum(fit.losses[:10]) / 10, sum(fit.losses[-10:]) / 10
    assert last < first - 0.1  # it learns something from (tape, value) pairs
    assert fit.best_accuracy == max(fit.val_accuracy) and fit.seconds > 0
    assert not fit.model.training  # handed back in eval mode, at its best validation state
    acc = float((fit.model.predict(val.tapes) == val.values).float().mean())
    assert acc == pytest.approx(fit.best_accuracy)


def test_accuracy_by_length_gives_one_accuracy_per_length():
    digits, ops = _pools()
    model = LSTMBaseline(TINY)
    calls = []

    def data(n_digits):
        calls.append(n_digits)
        return math_tapes(12, n_digits, digit_pool=digits, op_pool=ops, seed=n_digits)

    acc = accuracy_by_length(model.predict, range(1, 6), data=data, chunk=5)
    assert list(acc) == [1, 2, 3, 4, 5] and calls == [1, 2, 3, 4, 5]
    assert all(0.0 <= a <= 1.0 for a in acc.values())
    # an oracle predictor that reads the values is right everywhere
    ds = {d: data(d) for d in (1, 4)}
    lookup = {d: ds[d] for d in ds}
    exact = accuracy_by_length(lambda t: lookup[(t.shape[1] + 1) // 2].values[: len(t)], [1, 4],
                               data=lambda d: lookup[d], chunk=100)
    assert exact == {1: 1.0, 4: 1.0}


def test_library_encoder_freezes_pretrained_nets():
    digit = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    op = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4))
    enc = LibraryEncoder([digit, op], embed_dim=6)
    model = LSTMBaseline(TINY.replace(embed_dim=6), encoder=enc)
    assert model(torch.randn(3, 5, 28, 28)).shape == (3, VALUES)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("encoder.nets") for n in trainable) and "encoder.proj.0.weight" in trainable
    assert enc.nets[0] is not digit  # a copy: training the baseline never touches the library's nets


def test_bad_configs_and_data_are_typed_errors():
    with pytest.raises(ConfigError):
        LSTMConfig(hidden=0)
    with pytest.raises(ConfigError):
        TINY.replace(width=3)
    with pytest.raises(DataError):
        LSTMBaseline(TINY)(torch.randn(2, 28, 28))
    with pytest.raises(DataError):
        make_tapes(torch.zeros(2, 4, dtype=torch.long), *_pools())
    with pytest.raises(DataError):
        train_lstm((torch.randn(4, 3, 28, 28), torch.randn(4)), config=TINY)


def test_accuracy_by_length_scores_the_intended_math_program_perfectly():
    """The same evaluation runs a read-out MATH program: with perfect perception the loop is exact."""
    from torch import nn

    import workbench as wb
    from workbench.readout import predictions
    from workbench.tasks.math_tape import (
        Digit,
        Op,
        intended_assignment,
        make_sketch,
        oracle_tapes,
        perception_oracle,
        random_expressions,
    )

    digit = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), input=wb.Image28, output=Digit)
    op = wb.NeuralFunction("op", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28, output=Op)
    sk = make_sketch(digit, op)

    def data(n_digits):
        sym, values = random_expressions(10, n_digits, seed=n_digits)
        return MathTapes(oracle_tapes(sym), values, sym)

    def predict(tapes):
        out = sk.hard(intended_assignment(), {"tape": tapes}, net_forward=perception_oracle)["output"]
        return predictions(out.probs)[0]

    assert accuracy_by_length(predict, [1, 2, 3, 6], data=data, chunk=4) == {1: 1.0, 2: 1.0, 3: 1.0, 6: 1.0}


def test_docstring_examples_run():
    import doctest

    from workbench.baselines import lstm

    result = doctest.testmod(lstm, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0


def test_weights_are_seeded_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b = LSTMBaseline(TINY), LSTMBaseline(TINY)
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = LSTMBaseline(TINY.replace(seed=1))
    assert not torch.equal(a.head.weight, c.head.weight)
