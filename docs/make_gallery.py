"""Render gallery PNGs of the workbench's image data sets into ``docs/images/``.

- ``gallery_mnist.png``: real MNIST digits (full MNIST via :func:`workbench.data.mnist.load_mnist`);
- ``gallery_operators.png``: SYNTHETIC handwritten operators (:mod:`workbench.data.operators`);
- ``gallery_signs.png``: SYNTHETIC street signs (:mod:`workbench.data.signs`).

Usage: ``python docs/make_gallery.py [--out DIR] [--seed N] [--rows R] [--cols C]``.
The MNIST gallery is skipped with a message when MNIST cannot be loaded on this machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.core.errors import DataError  # noqa: E402
from workbench.data.mnist import load_mnist  # noqa: E402
from workbench.data.operators import OPERATORS, make_operators  # noqa: E402
from workbench.data.signs import SIGNS, make_signs  # noqa: E402


def save_grid(
    images: np.ndarray,
    captions: list[str],
    title: str,
    path: Path,
    *,
    cols: int,
    cmap: str = "gray_r",
    caption_size: float = 9.0,
) -> Path:
    """Draw ``images`` (n, 28, 28) uint8 in a grid with one caption each and save a PNG."""
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.95, rows * 1.1 + 0.6))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, caption in zip(np.atleast_1d(axes).ravel(), images, captions):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(caption, fontsize=caption_size, pad=2)
    fig.suptitle(title, fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Write the three gallery PNGs; return a process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--cols", type=int, default=12)
    args = parser.parse_args(argv)
    n = args.rows * args.cols
    rng = np.random.default_rng(args.seed)

    try:
        digits, labels = load_mnist("train")
        pick = rng.choice(len(labels), size=n, replace=False)
        path = save_grid(
            digits[pick].numpy(),
            [str(int(y)) for y in labels[pick]],
            "MNIST (real handwritten digits, LeCun & Cortes, CC BY-SA 3.0): random training images",
            args.out / "gallery_mnist.png",
            cols=args.cols,
        )
        print(f"wrote {path}")
    except DataError as exc:
        print(f"skipped the MNIST gallery: {exc}", file=sys.stderr)

    images, labels = make_operators(n, seed=args.seed)
    path = save_grid(
        images.numpy(),
        [OPERATORS[int(y)] for y in labels],
        "SYNTHETIC handwritten operators (generated strokes, not real handwriting)",
        args.out / "gallery_operators.png",
        cols=args.cols,
        caption_size=12,
    )
    print(f"wrote {path}")

    images, labels = make_signs(n, seed=args.seed)
    path = save_grid(
        images.numpy(),
        [SIGNS[int(y)] for y in labels],
        "SYNTHETIC street signs (procedurally generated) for PATH_LEN",
        args.out / "gallery_signs.png",
        cols=args.cols,
        cmap="gray",
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
