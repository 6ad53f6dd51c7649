"""Bad input gets a typed error that names the site and suggests the fix."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import workbench as wb
from workbench.core import (
    DataError,
    DomainError,
    DuplicateSiteError,
    SignatureError,
    SoftControlFlowError,
    TrainingError,
)
from workbench.train import TrainConfig, fit

D3 = wb.Domain("Int3", 3)
D5 = wb.Domain("Int5", 5)
add3 = wb.add(D3, D3, D5, name="add3")
Token = wb.TensorType("Vec4", (4,))


def _inputs(n: int = 4) -> dict[str, torch.Tensor]:
    return {"x": torch.arange(n) % 3}


def test_domain_mismatch_names_site_and_suggests_cast():
    @wb.sketch(inputs={"x": D3}, output=D5)
    def bad(x):
        y = add3(x, x, name="first")
        return add3(y, x, name="second")  # y is Int5, add3 takes Int3

    with pytest.raises(DomainError) as e:
        bad.hard({}, _inputs())
    msg = str(e.value)
    assert "second" in msg and "Int5" in msg and "cast" in msg


def test_neural_output_size_mismatch_at_declaration():
    with pytest.raises(SignatureError) as e:
        wb.NeuralFunction("digit", nn.Linear(4, 7), input=Token, output=D5)
    assert "digit" in str(e.value) and "5" in str(e.value) and "hint" in str(e.value)


def test_neural_wrongly_typed_argument_at_first_call():
    net = wb.NeuralFunction("vecnet", nn.Linear(4, 5), input=Token, output=D5)

    @wb.sketch(inputs={"x": D3}, output=D5)
    def bad(x):
        return net(x, name="classify")

    with pytest.raises(SignatureError) as e:
        bad.hard({}, _inputs())
    assert "classify" in str(e.value) and "Vec4" in str(e.value)


@pytest.mark.parametrize("use", ["if", "index", "loop", "range"])
def test_soft_value_in_python_control_flow(use):
    @wb.sketch(inputs={"x": D3}, output=D3)
    def bad(x):
        h = wb.hole("choice", D3)
        if use == "if":
            if h:
                return x
        elif use == "index":
            return [x, x, x][h]
        elif use == "loop":
            for _ in h:
                pass
        else:
            for _ in range(h):
                pass
        return x

    with pytest.raises(SoftControlFlowError) as e:
        bad.hard({"choice": 0}, _inputs())
    msg = str(e.value)
    assert "choice" in msg and "hint" in msg and ("wb.where" in msg or "wb.choose" in msg or "Halting" in msg)


def test_duplicate_site_name():
    @wb.sketch(inputs={"x": D3}, output=D3)
    def bad(x):
        for i in range(2):
            x = wb.choose(wb.hole("op", wb.Bool), [x, wb.const(D3, i)])
        return x

    with pytest.raises(DuplicateSiteError) as e:
        bad.hard({"op": 0}, _inputs())
    assert "'op'" in str(e.value) and "unique" in str(e.value)


def test_constant_out_of_domain():
    @wb.sketch(inputs={"x": D3}, output=D3)
    def bad(x):
        return wb.choose(wb.hole("op", wb.Bool), [x, wb.const(D3, 7, name="seven")])

    with pytest.raises(DomainError) as e:
        bad.hard({"op": 0}, _inputs())
    assert "seven" in str(e.value) and "7" in str(e.value) and "0..2" in str(e.value)


def test_empty_data_set():
    @wb.sketch(inputs={"x": D3}, output=D3)
    def sk(x):
        return wb.choose(wb.hole("op", wb.Bool), [x, wb.const(D3, 0)])

    with pytest.raises(DataError) as e:
        fit(sk, ({"x": torch.zeros(0, dtype=torch.long)}, torch.zeros(0, dtype=torch.long)))
    assert "empty" in str(e.value) and "hint" in str(e.value)


def test_nan_loss():
    class NaNNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x) * float("nan")

    net = wb.NeuralFunction("nannet", NaNNet(), input=Token, output=D3, check=False)

    @wb.sketch(inputs={"v": Token}, output=D3)
    def sk(v):
        return wb.choose(wb.hole("op", wb.Bool), [net(v), wb.const(D3, 0)])

    data = ({"v": torch.randn(20, 4)}, torch.zeros(20, dtype=torch.long))
    with pytest.raises(TrainingError) as e:
        fit(sk, data, config=TrainConfig(restarts=2, steps=3, batch_size=4))
    assert "NaN" in str(e.value) and "step 1" in str(e.value) and "hint" in str(e.value)


def test_data_shape_mismatch_names_input():
    @wb.sketch(inputs={"v": Token}, output=D3)
    def sk(v):
        return wb.const(D3, 0)

    with pytest.raises(DataError) as e:
        sk.hard({}, {"v": torch.zeros(3, 5)})
    assert "'v'" in str(e.value) and "(batch, 4)" in str(e.value)


def test_bad_config_values():
    with pytest.raises(wb.ConfigError):
        TrainConfig(restarts=0)
    with pytest.raises(wb.ConfigError):
        TrainConfig(optimizer="sgd")


def test_user_exception_gets_site_context():
    boom = wb.FiniteFunction("boom", lambda a: 0, inputs=(D3,), output=D3)

    @wb.sketch(inputs={"x": D3}, output=D3)
    def sk(x):
        y = boom(x, name="ok")
        raise ZeroDivisionError("user bug")
        return y

    with pytest.raises(wb.SketchError) as e:
        sk.hard({}, _inputs())
    assert "ZeroDivisionError" in str(e.value) and "sk" in str(e.value)
    assert isinstance(e.value.__cause__, ZeroDivisionError)
