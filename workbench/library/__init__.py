"""The library of neural functions: versioned, immutable entries (JSON manifest + safetensors).

A location is a local directory (default ``$WORKBENCH_LIBRARY`` or ``./library``) or an fsspec URL;
see :mod:`workbench.library.store` for what publishing guarantees on each kind of storage.

>>> import tempfile
>>> from workbench import nets
>>> from workbench.core.domains import Domain, Image28
>>> from workbench.core.neural import NeuralFunction
>>> digit = NeuralFunction("digit", nets.build("mlp", hidden=[16]), input=Image28,
...                        output=Domain("Digit", 10), arch=("mlp", {"hidden": [16]}))
>>> lib = Library(tempfile.mkdtemp())
>>> lib.publish(digit, metrics={"accuracy": 0.97}, task="add2x2").ref
'digit@1'
>>> again = lib.load("digit")            # a new module, same weights, ready to train further
>>> lib.publish(again).parent            # provenance: published from version 1
1
>>> [(s.name, s.latest, s.versions) for s in lib.list()]
[('digit', 2, 2)]
"""

from .api import Library
from .errors import (
    DuplicateWeights,
    EntryNotFound,
    IntegrityError,
    InvalidName,
    LibraryError,
    LimitExceeded,
    PublishError,
    StorageError,
    UnknownArchitecture,
    UnsafePath,
    VersionNotFound,
)
from .limits import parameter_count
from .manifest import BrokenEntry, EntrySummary, EntryVersion
from .names import check_name, check_version, function_name
from .staging import InvalidStagingId, StagedNotFound, StagingArea, StagingError
from .store import Store, resolve

__all__ = [
    "Library", "EntryVersion", "EntrySummary", "LibraryError", "EntryNotFound", "VersionNotFound",
    "InvalidName", "IntegrityError", "UnknownArchitecture", "PublishError", "UnsafePath", "LimitExceeded",
    "StorageError", "BrokenEntry", "DuplicateWeights",
    # what the server extension needs (it uses nothing else of this package)
    "check_name", "check_version", "function_name", "StagingArea", "StagingError", "InvalidStagingId",
    "StagedNotFound", "Store", "resolve", "parameter_count",
]
