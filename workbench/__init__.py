"""NTPT Workbench: differentiable programs with neural libraries.

The language lives in :mod:`workbench.core`; training in :mod:`workbench.train`; read-out in
:mod:`workbench.readout`.
"""

from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from .readout import Program
from .train import FitResult, TrainConfig, fit

__version__ = "0.1.0"


def _in_ipython_kernel() -> bool:
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None


if _in_ipython_kernel():  # notebooks: register the rich displays (workbench.viz) with core
    from . import viz as _viz  # noqa: F401
__all__ = [*_core_all, "Program", "FitResult", "TrainConfig", "fit"]
