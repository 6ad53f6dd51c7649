"""NTPT Workbench: differentiable programs with neural libraries.

The language lives in :mod:`workbench.core`; training in :mod:`workbench.train`; read-out in
:mod:`workbench.readout`.
"""

from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from .readout import Program
from .train import FitResult, TrainConfig, fit

__version__ = "0.1.0"
__all__ = [*_core_all, "Program", "FitResult", "TrainConfig", "fit"]
