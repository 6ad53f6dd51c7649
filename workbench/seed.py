"""Seed a library for ``make lab``: publish a small digit classifier when the library is empty.

``python -m workbench.seed [LIBRARY]`` (default ``out/demo/library``). Does nothing when the
library already has an entry (e.g. one published by ``make demo``). The seed is NOT learned
through a program: it is a small CNN trained with digit labels for a few seconds on the embedded
MNIST digits, so that the panel has something to show and to drag into a notebook; its manifest
says so (task ``seed/supervised-mnist``).
"""

from __future__ import annotations

import argparse
import time

import torch

from .core.domains import Domain, Image28
from .core.neural import NeuralFunction
from .library import Library
from .nets import build

DEFAULT = "out/demo/library"


def seed(location: str = DEFAULT, *, epochs: int = 1, quiet: bool = False) -> str | None:
    """Publish ``digit`` into ``location`` unless the library has entries; -> the ref or None."""
    lib = Library(location)
    if lib.list():
        if not quiet:
            print(f"library {lib.location} already has entries: {', '.join(lib.names())}")
        return None
    from .data import embedded_split, normalize  # the data only when needed

    t0 = time.perf_counter()
    torch.manual_seed(0)
    split = embedded_split(seed=0)
    x, y = normalize(split.train_images), split.train_labels
    kwargs = {"out": 10, "width": 8}
    digit = NeuralFunction("digit", build("small_cnn", **kwargs), input=Image28, output=Domain("Digit", 10),
                           arch=("small_cnn", kwargs))
    opt = torch.optim.Adam(digit.module.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            loss = torch.nn.functional.cross_entropy(digit.module(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    accuracy = float((digit.predict(normalize(split.test_images)) == split.test_labels).float().mean())
    ev = lib.publish(digit, metrics={"accuracy": accuracy}, task="seed/supervised-mnist",
                     dataset=split.description, tags=["mnist", "seed"],
                     description="seeded by `make lab`: a small CNN trained WITH digit labels (not through a "
                                 "program); run `make demo` for one learned from sums only")
    if not quiet:
        print(f"published {ev.ref} to {lib.location}: held-out accuracy {accuracy:.3f} "
              f"({time.perf_counter() - t0:.1f} s)")
    return ev.ref


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("library", nargs="?", default=DEFAULT)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args(argv)
    seed(args.library, epochs=args.epochs)


if __name__ == "__main__":
    main()
