"""The sketch language and its interpreters (torch + stdlib only).

Read in this order: domains, values, runtime (dispatch), primitives, functions, neural, sketch;
then one interpretation per file: soft, hard, trace, symbolic (read-out).
"""

from .domains import Bool, Domain, Grid, Image28, Int, Seq, TensorType
from .errors import (
    ConfigError,
    DataError,
    DomainError,
    DuplicateSiteError,
    LibraryError,
    MissingDependencyError,
    SignatureError,
    SketchError,
    SoftControlFlowError,
    TrainingError,
    WorkbenchError,
)
from .functions import FiniteFunction, add, function, mod_add, mod_sub, sub
from .neural import NeuralFunction
from .primitives import Halting, and_, branch, cast, choose, const, hole, is_, let, not_, or_, where
from .program import Graph, Loop, Node, Read
from .runtime import KINDS, Handler
from .sketch import Sketch, SketchInfo, run, sketch
from .trace import SiteRecord, Trace
from .values import Sym, Value

__all__ = [
    "Bool", "Domain", "Grid", "Image28", "Int", "Seq", "TensorType",
    "ConfigError", "DataError", "DomainError", "DuplicateSiteError", "LibraryError", "MissingDependencyError",
    "SignatureError", "SketchError", "SoftControlFlowError", "TrainingError", "WorkbenchError",
    "FiniteFunction", "add", "function", "mod_add", "mod_sub", "sub", "NeuralFunction",
    "Halting", "and_", "branch", "cast", "choose", "const", "hole", "is_", "let", "not_", "or_", "where",
    "Sketch", "SketchInfo", "run", "sketch", "SiteRecord", "Trace", "Sym", "Value",
    "Graph", "Loop", "Node", "Read", "KINDS", "Handler",
]
