"""Worker process for the library's concurrency and crash tests (not a test module).

``python _publisher.py LIBRARY NAME WORKER COUNT GOFILE HIDDEN``: builds a small MLP, prints
``ready``, waits for GOFILE to exist, then publishes COUNT versions (0: forever) of entry NAME,
each with its own weights and metrics ``{"worker": WORKER, "i": i}``.
"""

import os
import sys
import time

import torch

from workbench import nets
from workbench.core.domains import Domain, TensorType
from workbench.core.neural import NeuralFunction
from workbench.library import Library

torch.set_num_threads(1)
location, name, worker, count, go, hidden = sys.argv[1:7]
worker, count, hidden = int(worker), int(count), int(hidden)
kwargs = {"in_shape": [8, 8], "out": 3, "hidden": [hidden]}
fn = NeuralFunction("f", nets.build("mlp", **kwargs), input=TensorType("Vec8x8", (8, 8)),
                    output=Domain("Three", 3), arch=("mlp", kwargs))
lib = Library(location)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
i = 0
while count == 0 or i < count:
    with torch.no_grad():
        for p in fn.module.parameters():
            p.normal_()
    fn.origin = None
    lib.publish(fn, name=name, metrics={"worker": worker, "i": i})
    i += 1
