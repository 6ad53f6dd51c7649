"""Neural baselines the paper compares NTPT with (sized by config objects, so tests run them tiny).

* :mod:`workbench.baselines.lstm`: the MATH baseline, a 2-layer 256-unit LSTM over per-symbol image
  embeddings, trained on 2-digit expressions and evaluated on longer ones.
* :mod:`workbench.baselines.multitask`: the 8-task lifelong schedule's baselines, a multitask network
  (shared per-cell digit / operator nets, one head per task) and independent per-task networks.
"""

from .lstm import (
    VALUES,
    LibraryEncoder,
    LSTMBaseline,
    LSTMConfig,
    LSTMFit,
    MathTapes,
    SymbolEncoder,
    accuracy_by_length,
    make_tapes,
    math_tapes,
    train_lstm,
)
from .multitask import (
    BaselineFit,
    MultitaskConfig,
    MultitaskError,
    MultitaskNet,
    run_baselines,
    train_independent,
    train_multitask,
)

__all__ = [
    "VALUES", "LibraryEncoder", "LSTMBaseline", "LSTMConfig", "LSTMFit", "MathTapes", "SymbolEncoder",
    "accuracy_by_length", "make_tapes", "math_tapes", "train_lstm",
    "BaselineFit", "MultitaskConfig", "MultitaskError", "MultitaskNet", "run_baselines", "train_independent",
    "train_multitask",
]
