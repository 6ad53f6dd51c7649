"""SYNTHETIC street signs for the PATH_LEN task, 28x28 greyscale.

No data set of such signs exists on any registry reachable from the machines this project runs
on, so these images are GENERATED procedurally and must be labelled SYNTHETIC wherever they
appear. Classes (:data:`SIGNS`):

- ``north`` / ``east`` / ``south`` / ``west``: a plate (a circle or a rounded square, drawn as a
  bright outline over a faint fill) with an arrow inside pointing up / right / down / left;
- ``stop``: a stop-like octagon, filled bright, with a dark bar across it (standing in for the
  word STOP);
- ``blank``: an empty cell, background with clutter only.

Every image has a dark background with a random level and gradient, pixel noise and a few faint
clutter strokes; the sign gets a random position jitter (up to about 2 px), a small rotation
(under 12 degrees, so directions stay unambiguous), scale and aspect changes, and random line
widths and grey levels. The arrows and clutter are rasterised with the anti-aliased polyline
renderer of :mod:`workbench.data.operators`; plates are signed-distance shapes. Seeded and
vectorised: the same ``(n, seed, classes)`` always gives the same images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from workbench.core.errors import DataError
from workbench.data.operators import IMAGE_SIZE, bezier_polylines, render_polylines

__all__ = ["SIGNS", "SYNTHETIC", "make_signs", "render_sign"]

#: These images are generated, not photographed: label them SYNTHETIC everywhere.
SYNTHETIC = True

#: Class names; label ``i`` is ``SIGNS[i]``.
SIGNS: tuple[str, ...] = ("north", "east", "south", "west", "stop", "blank")

#: Unit vector of each arrow direction as ``(x, y)`` with y pointing DOWN (image rows).
_DIRECTIONS = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
_STOP = SIGNS.index("stop")
_BLANK = SIGNS.index("blank")
_CLUTTER_STROKES = 5
_SOFT = 1.0  # anti-aliasing ramp in pixels
_CHUNK = 1024  # images rendered per batch


def _class_indices(classes: Sequence[str] | None) -> list[int]:
    if classes is None:
        return list(range(len(SIGNS)))
    if isinstance(classes, str):
        classes = [classes]
    unknown = [c for c in classes if c not in SIGNS]
    if unknown or not classes:
        raise DataError(
            f"unknown sign class(es) {unknown!r}" if unknown else "classes must not be empty",
            hint=f"choose from {list(SIGNS)}",
        )
    return sorted({SIGNS.index(c) for c in classes})


def _label_index(label: int | str) -> int:
    if isinstance(label, str):
        if label not in SIGNS:
            raise DataError(f"unknown sign class {label!r}", hint=f"choose from {list(SIGNS)}")
        return SIGNS.index(label)
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise DataError(f"sign label must be an int or a class name, got {label!r}")
    if not 0 <= int(label) < len(SIGNS):
        raise DataError(f"sign label {label} out of range", hint=f"use 0..{len(SIGNS) - 1} or a name")
    return int(label)


def _ramp(signed: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a region whose signed distance (pixels, <0 inside) is given."""
    return np.clip(0.5 - signed / _SOFT, 0.0, 1.0)


def _over(image: np.ndarray, cover: np.ndarray, level: np.ndarray | float) -> np.ndarray:
    """Paint ``level`` over ``image`` with coverage ``cover`` (alpha blending)."""
    return image * (1.0 - cover) + cover * level


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render SYNTHETIC signs for integer ``labels`` ``(n,)`` into float images ``(n, 28, 28)``."""
    n = labels.size
    size = IMAGE_SIZE
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    col = lambda a: np.asarray(a, dtype=np.float64).reshape(n, 1, 1)  # noqa: E731

    # Background: level, a gentle linear gradient, clutter strokes behind the sign.
    angle_bg = rng.uniform(0.0, 2 * np.pi, n)
    gradient = rng.uniform(0.0, 1.2, n)
    image = col(rng.uniform(5.0, 55.0, n)) + col(gradient) * (
        (xs - 13.5) * col(np.cos(angle_bg)) + (ys - 13.5) * col(np.sin(angle_bg))
    )
    count = np.where(labels == _BLANK, rng.integers(2, 6, n), rng.integers(0, 3, n))
    clutter_mask = np.arange(_CLUTTER_STROKES)[None, :] < count[:, None]
    start = rng.uniform(-2.0, size + 1.0, (n, _CLUTTER_STROKES, 2))
    heading = rng.uniform(0.0, 2 * np.pi, (n, _CLUTTER_STROKES))
    length = rng.uniform(4.0, 16.0, (n, _CLUTTER_STROKES, 1))
    end = start + length * np.stack([np.cos(heading), np.sin(heading)], -1)
    bow = rng.normal(0.0, 2.0, (n, _CLUTTER_STROKES, 2))
    clutter_pts = bezier_polylines(
        start, start + (end - start) / 3 + bow, start + 2 * (end - start) / 3 + bow, end, 4
    )
    clutter_w = np.repeat(rng.uniform(0.8, 1.8, (n, _CLUTTER_STROKES, 1)), 5, axis=2)
    clutter = render_polylines(clutter_pts, clutter_w, clutter_mask, softness=_SOFT)
    image = _over(image, clutter, col(rng.uniform(55.0, 120.0, n)))

    # Pose of the sign: centre jitter, small rotation, radius and aspect.
    centre = 13.5 + rng.normal(0.0, 0.9, (n, 2)).clip(-2.0, 2.0)
    theta = np.deg2rad(rng.normal(0.0, 5.0, n).clip(-11.0, 11.0))
    radius = rng.uniform(9.5, 12.0, n)
    aspect = np.exp(rng.normal(0.0, 0.05, n))
    cos, sin = np.cos(theta), np.sin(theta)
    dx, dy = xs[None] - col(centre[:, 0]), ys[None] - col(centre[:, 1])
    # Pixel positions in the sign's frame, in units of its radius.
    u = (col(cos) * dx + col(sin) * dy) / col(radius * aspect)
    v = (-col(sin) * dx + col(cos) * dy) / col(radius / aspect)
    scale = col(radius)  # converts unit distances back to pixels (approximately, aspect ~ 1)

    # Plate shapes as signed distances (negative inside), in plate units.
    circle = np.sqrt(u * u + v * v) - 1.0
    half, corner = 0.88, rng.uniform(0.2, 0.45, n)
    qu, qv = np.abs(u) - (half - col(corner)), np.abs(v) - (half - col(corner))
    rounded = (
        np.sqrt(np.maximum(qu, 0.0) ** 2 + np.maximum(qv, 0.0) ** 2)
        + np.minimum(np.maximum(qu, qv), 0.0)
        - col(corner)
    )
    au, av = np.abs(u), np.abs(v)  # octagon with flat top, as a stop sign: 8 half-planes
    octagon = np.maximum(np.maximum(au, av), (au + av) * np.sqrt(0.5)) - np.cos(np.pi / 8)
    use_circle = rng.random(n) < 0.5
    plate = np.where(col(use_circle), circle, rounded)
    shape = np.where(col(labels == _STOP), octagon, plate)
    has_sign = col(labels != _BLANK)

    outline_w = col(rng.uniform(1.4, 2.6, n))
    fill_level = np.where(labels == _STOP, rng.uniform(150.0, 205.0, n), rng.uniform(45.0, 110.0, n))
    fill = _ramp(shape * scale) * has_sign
    image = _over(image, fill, col(fill_level))
    ring = _ramp(np.abs(shape * scale + 0.5 * outline_w) - 0.5 * outline_w) * has_sign
    image = _over(image, ring, col(rng.uniform(200.0, 250.0, n)))

    # Arrows (classes 0..3) or the stop bar, as anti-aliased strokes in the sign's frame.
    direction = _DIRECTIONS[np.minimum(labels, 3)]
    side = np.stack([-direction[:, 1], direction[:, 0]], -1)
    tail = -rng.uniform(0.45, 0.6, (n, 1)) * direction
    tip = rng.uniform(0.48, 0.6, (n, 1)) * direction
    barb_len = rng.uniform(0.28, 0.4, (n, 1))
    barb_angle = np.deg2rad(rng.uniform(32.0, 48.0, (n, 1)))
    back = -np.cos(barb_angle) * direction
    barb_a = tip + barb_len * (back + np.sin(barb_angle) * side)
    barb_b = tip + barb_len * (back - np.sin(barb_angle) * side)
    strokes = np.stack(
        [np.stack([tail, tip], 1), np.stack([tip, barb_a], 1), np.stack([tip, barb_b], 1)], 1
    )  # (n, 3 strokes, 2 vertices, 2)
    strokes = strokes + rng.normal(0.0, 0.03, strokes.shape)
    is_stop = labels == _STOP
    bar = np.stack([rng.uniform(-0.6, -0.45, n), np.zeros(n), rng.uniform(0.45, 0.6, n), np.zeros(n)], -1)
    strokes[is_stop, 0] = bar[is_stop].reshape(-1, 2, 2)
    # Plate units -> pixels (same rotation and aspect as the plate).
    su = strokes[..., 0] * (radius * aspect)[:, None, None]
    sv = strokes[..., 1] * (radius / aspect)[:, None, None]
    px = cos[:, None, None] * su - sin[:, None, None] * sv + centre[:, 0, None, None]
    py = sin[:, None, None] * su + cos[:, None, None] * sv + centre[:, 1, None, None]
    points = np.stack([px, py], -1)
    stroke_mask = np.zeros((n, 3), dtype=bool)
    stroke_mask[labels < _STOP] = True
    stroke_mask[is_stop, 0] = True
    width = np.where(is_stop, rng.uniform(3.5, 5.0, n), rng.uniform(1.8, 3.0, n))
    widths = np.broadcast_to(width[:, None, None], (n, 3, 2))
    marks = render_polylines(points, widths, stroke_mask, softness=_SOFT)
    mark_level = np.where(is_stop, rng.uniform(10.0, 60.0, n), rng.uniform(215.0, 255.0, n))
    image = _over(image, marks, col(mark_level))

    image = image + rng.normal(0.0, 1.0, image.shape) * col(rng.uniform(3.0, 12.0, n))
    return np.clip(image, 0.0, 255.0)


def render_sign(label: int | str, rng: np.random.Generator) -> np.ndarray:
    """Render one SYNTHETIC sign of class ``label`` (index or name) as a ``(28, 28)`` uint8 array.

    Draws its randomness from ``rng``; raises :class:`DataError` for an unknown label.
    """
    index = _label_index(label)
    return np.rint(_render(np.array([index]), rng)[0]).astype(np.uint8)


def make_signs(
    n: int, *, seed: int = 0, classes: Sequence[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``n`` SYNTHETIC street-sign images with their labels.

    Args:
        n: number of images (> 0). Classes are balanced (``n // k`` or one more each) and the
            order is shuffled.
        seed: random seed; the same ``(n, seed, classes)`` always gives the same images.
        classes: optional subset of :data:`SIGNS` (names); labels always index :data:`SIGNS`.

    Returns:
        ``images``: SYNTHETIC uint8 tensor ``(n, 28, 28)`` and ``labels``: int64 tensor ``(n,)``
        with ``SIGNS[label]`` the sign drawn.

    Raises:
        DataError: when ``n`` is not a positive integer or a class name is unknown.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise DataError(f"make_signs needs a positive number of images, got n={n!r}", hint="e.g. n=1000")
    wanted = _class_indices(classes)
    rng = np.random.default_rng(seed)
    labels = np.asarray(wanted)[np.arange(n) % len(wanted)]
    rng.shuffle(labels)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for lo in range(0, n, _CHUNK):  # bounded memory; the chunking is part of the seeded stream
        images[lo : lo + _CHUNK] = np.rint(_render(labels[lo : lo + _CHUNK], rng))
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
