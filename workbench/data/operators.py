"""SYNTHETIC handwritten arithmetic operators (``+ - x /``), 28x28 like MNIST.

No data set of handwritten operators can be downloaded on the machines this project runs on
(HASYv2, CROHME and the Kaggle symbol sets are web-only; EMNIST has no operators), so these
images are GENERATED and must be labelled SYNTHETIC wherever they appear. They are cleaner and
more regular than real handwriting, so a network learns them more easily than real operators:
say so whenever results on them are compared with published ones.

Each glyph is drawn as one or two pen strokes (cubic Bezier curves through jittered endpoints,
with random bends), with a per-image pen width and a pressure that varies along every stroke.
The stroke points then go through a random rotation, shear and anisotropic scale and a mild
elastic distortion (a random smooth displacement field made of a few low-frequency waves). The
strokes are rasterised anti-aliased by their distance to each segment, fitted into a 20x20 box
and centred by centre of mass in a 28x28 frame, as MNIST digits are. Everything is vectorised
numpy and seeded: the same ``(n, seed)`` always gives the same images.

The raster helpers (:func:`render_polylines`, :func:`fit_to_box`, :func:`center_by_mass`) are
shared with the SYNTHETIC street signs of :mod:`workbench.data.signs`.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.core.errors import DataError

__all__ = [
    "BOX_SIZE",
    "IMAGE_SIZE",
    "OPERATORS",
    "SYNTHETIC",
    "bezier_polylines",
    "center_by_mass",
    "fit_to_box",
    "make_operators",
    "render_polylines",
]

#: These images are generated, not collected from people: label them SYNTHETIC everywhere.
SYNTHETIC = True

#: Class names; label ``i`` is ``OPERATORS[i]``.
OPERATORS: tuple[str, ...] = ("+", "-", "x", "/")

#: Side of the square image and of the box the glyph is fitted into (as MNIST: 20 in 28).
IMAGE_SIZE = 28
BOX_SIZE = 20

_MAX_STROKES = 2
_SEGMENTS = 10  # straight segments per Bezier stroke
_CHUNK = 64  # images rasterised per numpy batch (small batches stay in the CPU cache)


# ----------------------------------------------------------------------------------------------
# Shared raster helpers
# ----------------------------------------------------------------------------------------------


def bezier_polylines(
    p0: np.ndarray, c1: np.ndarray, c2: np.ndarray, p1: np.ndarray, segments: int = _SEGMENTS
) -> np.ndarray:
    """Sample cubic Bezier strokes ``(..., 2)`` into polylines ``(..., segments + 1, 2)``."""
    t = np.linspace(0.0, 1.0, segments + 1)[:, None]
    u = 1.0 - t
    return (
        (u**3) * p0[..., None, :]
        + (3 * u * u * t) * c1[..., None, :]
        + (3 * u * t * t) * c2[..., None, :]
        + (t**3) * p1[..., None, :]
    )


def render_polylines(
    points: np.ndarray,
    widths: np.ndarray,
    mask: np.ndarray,
    *,
    size: int = IMAGE_SIZE,
    softness: float = 1.2,
) -> np.ndarray:
    """Rasterise thick anti-aliased polylines into ``(n, size, size)`` float32 images in [0, 1].

    Args:
        points: ``(n, strokes, vertices, 2)`` stroke vertices as ``(x, y)`` pixel coordinates
            (pixel ``(row, col)`` has its centre at ``x = col, y = row``).
        widths: ``(n, strokes, vertices)`` pen width in pixels at every vertex.
        mask: ``(n, strokes)``; ``False`` strokes are not drawn.
        softness: width in pixels of the linear ramp from ink to background (anti-aliasing).

    Every pixel takes the darkest value over all segments of
    ``clip((width / 2 - distance) / softness + 0.5, 0, 1)``, where ``distance`` is from the
    pixel centre to the segment.
    """
    n = points.shape[0]
    a = points[:, :, :-1].reshape(n, -1, 2).astype(np.float32)
    b = points[:, :, 1:].reshape(n, -1, 2).astype(np.float32)
    w = 0.5 * (widths[:, :, :-1] + widths[:, :, 1:])
    half = 0.5 * np.where(mask[:, :, None], w, -1e3).reshape(n, -1).astype(np.float32)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    gx, gy = xs.reshape(1, 1, -1), ys.reshape(1, 1, -1)
    out = np.empty((n, size * size), dtype=np.float32)
    for lo in range(0, n, _CHUNK):
        sa, sb = a[lo : lo + _CHUNK], b[lo : lo + _CHUNK]
        ab = sb - sa  # (c, M, 2)
        len2 = np.maximum((ab * ab).sum(-1), 1e-9)
        # Projection parameter of every pixel on every segment, clamped to the segment.
        apx = gx - sa[..., 0, None]  # (c, M, P)
        apy = gy - sa[..., 1, None]
        t = apx * (ab[..., 0] / len2)[..., None]
        t += apy * (ab[..., 1] / len2)[..., None]
        np.clip(t, 0.0, 1.0, out=t)
        apx -= t * ab[..., 0, None]
        apy -= t * ab[..., 1, None]
        apx *= apx
        apy *= apy
        apx += apy
        np.sqrt(apx, out=apx)  # distance pixel -> segment
        np.subtract(half[lo : lo + _CHUNK, :, None], apx, out=apx)
        out[lo : lo + _CHUNK] = apx.max(axis=1)  # max over segments of (width / 2 - distance)
    out /= softness
    out += 0.5
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(n, size, size)


def fit_to_box(
    points: np.ndarray,
    widths: np.ndarray,
    mask: np.ndarray,
    *,
    box: float = BOX_SIZE,
    size: int = IMAGE_SIZE,
    softness: float = 1.2,
) -> np.ndarray:
    """Scale and translate strokes so their ink fits a ``box`` square centred by mass in ``size``.

    The scale keeps the aspect ratio and makes the longer side of the inked area (centre lines
    plus pen width plus the anti-aliasing ramp) equal to ``box`` pixels. The translation puts the
    ink's centre of mass, estimated from segment midpoints weighted by length times width, at
    the image centre ``(size / 2, size / 2)``. Returns new ``points`` (widths are in pixels and
    stay as they are).
    """
    big = np.where(mask[:, :, None, None], points, np.nan)
    lo = np.nanmin(big, axis=(1, 2))
    hi = np.nanmax(big, axis=(1, 2))
    extent = np.maximum((hi - lo).max(axis=1), 1e-6)  # (n,)
    margin = np.where(mask[:, :, None], widths, 0.0).max(axis=(1, 2)) + softness
    scale = np.maximum(box - margin, 1.0) / extent
    scaled = (points - lo[:, None, None, :]) * scale[:, None, None, None]
    mid = 0.5 * (scaled[:, :, 1:] + scaled[:, :, :-1])
    seg = np.linalg.norm(scaled[:, :, 1:] - scaled[:, :, :-1], axis=-1)
    weight = seg * 0.5 * (widths[:, :, 1:] + widths[:, :, :-1]) * mask[:, :, None]
    total = np.maximum(weight.sum(axis=(1, 2)), 1e-9)
    centre = (mid * weight[..., None]).sum(axis=(1, 2)) / total[:, None]
    return scaled + (size / 2.0 - centre)[:, None, None, :]


def center_by_mass(images: np.ndarray, *, target: float = IMAGE_SIZE / 2.0) -> np.ndarray:
    """Shift every image by whole pixels so its centre of mass rounds to ``(target, target)``.

    ``images`` is ``(n, h, w)`` float; pixels shifted out are dropped and the gap is zero-filled.
    """
    n, h, w = images.shape
    mass = np.maximum(images.sum(axis=(1, 2)), 1e-9)
    cy = (images.sum(axis=2) * np.arange(h)).sum(axis=1) / mass
    cx = (images.sum(axis=1) * np.arange(w)).sum(axis=1) / mass
    shift_y = np.rint(target - cy).astype(int)
    shift_x = np.rint(target - cx).astype(int)
    out = images.copy()
    for i in np.flatnonzero((shift_y != 0) | (shift_x != 0)):
        dy, dx = int(shift_y[i]), int(shift_x[i])
        moved = np.zeros_like(images[i])
        src = images[i][max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        moved[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
        out[i] = moved
    return out


def _bent_controls(
    p0: np.ndarray, p1: np.ndarray, rng: np.random.Generator, bend: float
) -> tuple[np.ndarray, np.ndarray]:
    """Control points of a cubic through ``p0``, ``p1`` bent sideways by about ``bend`` x length."""
    d = p1 - p0
    perp = np.stack([-d[..., 1], d[..., 0]], axis=-1)  # already scaled by the stroke length
    shape = p0.shape[:-1] + (1,)
    common = rng.normal(0.0, bend, shape)  # C-shaped bow
    twist = rng.normal(0.0, 0.4 * bend, shape)  # S-shaped wobble
    c1 = p0 + d / 3.0 + perp * (common + twist)
    c2 = p0 + 2.0 * d / 3.0 + perp * (common - twist)
    return c1, c2


def _warp(points: np.ndarray, rng: np.random.Generator, amplitude: float, waves: int = 3) -> np.ndarray:
    """Mild elastic distortion: add a random smooth displacement field (a few sine waves).

    ``points`` is ``(n, ..., 2)`` in glyph units (the glyph spans about [-1, 1]).
    """
    n = points.shape[0]
    extra = (1,) * (points.ndim - 2)
    out = points.copy()
    for _ in range(waves):
        freq = rng.normal(0.0, 2.2, (n, 2)).reshape((n,) + extra + (2,))
        phase = rng.uniform(0.0, 2 * np.pi, (n,) + extra)
        amp = rng.normal(0.0, amplitude, (n, 2)).reshape((n,) + extra + (2,))
        out = out + amp * np.sin((points * freq).sum(-1) + phase)[..., None]
    return out


# ----------------------------------------------------------------------------------------------
# Operator glyphs (in glyph units: x to the right, y DOWN, the glyph spans about [-1, 1]^2)
# ----------------------------------------------------------------------------------------------


def _glyph_strokes(
    label: int, m: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``p0, c1, c2, p1`` of shape ``(m, _MAX_STROKES, 2)`` and the stroke mask."""
    p0 = np.zeros((m, _MAX_STROKES, 2))
    p1 = np.zeros((m, _MAX_STROKES, 2))
    mask = np.zeros((m, _MAX_STROKES), dtype=bool)
    jitter = 0.07
    bend = 0.09
    cursive = np.zeros(m, dtype=bool)
    if label == 0:  # "+": a horizontal and a vertical bar crossing near the middle
        cx, cy = rng.normal(0.0, 0.12, m), rng.normal(0.0, 0.12, m)
        left, right = rng.uniform(0.65, 1.05, m), rng.uniform(0.65, 1.05, m)
        top, bottom = rng.uniform(0.65, 1.05, m), rng.uniform(0.65, 1.05, m)
        tilt, lean = rng.normal(0.0, 0.06, m), rng.normal(0.0, 0.08, m)
        p0[:, 0] = np.stack([-left, cy - tilt * left], -1)
        p1[:, 0] = np.stack([right, cy + tilt * right], -1)
        p0[:, 1] = np.stack([cx + lean * top, -top], -1)
        p1[:, 1] = np.stack([cx - lean * bottom, bottom], -1)
        mask[:, :2] = True
    elif label == 1:  # "-": one bar, slightly tilted and bowed
        tilt = rng.normal(0.0, 0.05, m)
        p0[:, 0] = np.stack([-np.ones(m), -tilt], -1)
        p1[:, 0] = np.stack([np.ones(m), tilt], -1)
        mask[:, 0] = True
        bend = 0.07
    elif label == 2:  # "x": two crossing diagonals, or a cursive ")(" pair of arcs
        half_w = rng.uniform(0.65, 1.0, (m, 2))
        half_h = rng.uniform(0.75, 1.0, (m, 2))
        cx, cy = rng.normal(0.0, 0.1, m), rng.normal(0.0, 0.1, m)
        p0[:, 0] = np.stack([cx - half_w[:, 0], cy - half_h[:, 0]], -1)
        p1[:, 0] = np.stack([cx + half_w[:, 0], cy + half_h[:, 0]], -1)
        p0[:, 1] = np.stack([cx + half_w[:, 1], cy - half_h[:, 1]], -1)
        p1[:, 1] = np.stack([cx - half_w[:, 1], cy + half_h[:, 1]], -1)
        mask[:, :2] = True
        cursive = rng.random(m) < 0.2
    else:  # "/": one steep stroke from bottom-left to top-right
        run = 1.0 / np.tan(np.deg2rad(rng.uniform(48.0, 68.0, m)))
        p0[:, 0] = np.stack([-run, np.ones(m)], -1)
        p1[:, 0] = np.stack([run, -np.ones(m)], -1)
        mask[:, 0] = True
        bend = 0.045
    p0 = p0 + rng.normal(0.0, jitter, p0.shape)
    p1 = p1 + rng.normal(0.0, jitter, p1.shape)
    c1, c2 = _bent_controls(p0, p1, rng, bend)
    if cursive.any():
        k = np.flatnonzero(cursive)
        p0[k], c1[k], c2[k], p1[k] = _cursive_x(k.size, rng)
    return p0, c1, c2, p1, mask


def _cursive_x(m: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A cursive "x": a ")" arc and a "(" arc whose bulges nearly touch in the middle."""
    p0, c1, c2, p1 = (np.zeros((m, _MAX_STROKES, 2)) for _ in range(4))
    for s, side in enumerate((-1.0, 1.0)):  # stroke 0 on the left bows right, stroke 1 mirrored
        x_top = side * rng.uniform(0.6, 1.0, m)
        x_bottom = side * rng.uniform(0.6, 1.0, m)
        top, bottom = -rng.uniform(0.8, 1.0, m), rng.uniform(0.8, 1.0, m)
        apex = -side * rng.uniform(-0.12, 0.12, m)  # x where the arc comes closest to the middle
        reach = (apex - 0.5 * (x_top + x_bottom)) / 0.75
        p0[:, s] = np.stack([x_top, top], -1)
        p1[:, s] = np.stack([x_bottom, bottom], -1)
        c1[:, s] = np.stack([x_top + reach, 0.35 * top], -1)
        c2[:, s] = np.stack([x_bottom + reach, 0.35 * bottom], -1)
    wobble = rng.normal(0.0, 0.05, (4, m, _MAX_STROKES, 2))
    return p0 + wobble[0], c1 + wobble[1], c2 + wobble[2], p1 + wobble[3]


# ----------------------------------------------------------------------------------------------
# Public generator
# ----------------------------------------------------------------------------------------------


def make_operators(
    n: int, *, seed: int = 0, classes: tuple[str, ...] | list[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``n`` SYNTHETIC handwritten operator images with their labels.

    Args:
        n: number of images (> 0). Classes are balanced (``n // k`` or one more each) and the
            order is shuffled.
        seed: random seed; the same ``(n, seed, classes)`` always gives the same images.
        classes: optional subset of :data:`OPERATORS`; labels always index :data:`OPERATORS`.

    Returns:
        ``images``: SYNTHETIC uint8 tensor ``(n, 28, 28)`` (0 = background, 255 = ink, glyph
        fitted into 20x20 and centred by mass as in MNIST) and ``labels``: int64 tensor ``(n,)``
        with ``OPERATORS[label]`` the operator drawn.

    Raises:
        DataError: when ``n`` is not a positive integer or a class name is unknown.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise DataError(f"make_operators needs a positive number of images, got n={n!r}", hint="e.g. n=1000")
    wanted = _class_indices(classes)
    rng = np.random.default_rng(seed)
    labels = np.asarray(wanted)[np.arange(n) % len(wanted)]
    rng.shuffle(labels)

    p0 = np.zeros((n, _MAX_STROKES, 2))
    c1, c2, p1 = np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    mask = np.zeros((n, _MAX_STROKES), dtype=bool)
    for label in wanted:
        rows = np.flatnonzero(labels == label)
        if rows.size:
            g = _glyph_strokes(label, rows.size, rng)
            p0[rows], c1[rows], c2[rows], p1[rows], mask[rows] = g
    points = bezier_polylines(p0, c1, c2, p1)  # (n, S, V, 2)

    # Random rotation, shear and anisotropic scale about the glyph centre, then elastic warp.
    angle = np.deg2rad(np.clip(rng.normal(0.0, 7.0, n), -14.0, 14.0))
    shear = rng.uniform(-0.22, 0.22, n)
    sx, sy = np.exp(rng.normal(0.0, 0.1, n)), np.exp(rng.normal(0.0, 0.1, n))
    cos, sin = np.cos(angle), np.sin(angle)
    mat = np.empty((n, 2, 2))
    mat[:, 0, 0], mat[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    mat[:, 1, 0], mat[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    points = np.einsum("nij,nsvj->nsvi", mat, points)
    points = _warp(points, rng, amplitude=0.035)

    # Pen: one width per image, a little per stroke, pressure varying along each stroke.
    vertices = points.shape[2]
    t = np.linspace(0.0, 1.0, vertices)
    base = rng.uniform(1.9, 3.6, (n, 1, 1))
    per_stroke = rng.uniform(0.85, 1.15, (n, _MAX_STROKES, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, _MAX_STROKES, 1))
    pressure = 1.0 + rng.uniform(0.05, 0.25, (n, _MAX_STROKES, 1)) * np.sin(2.0 * np.pi * t + phase)
    taper = 1.0 - rng.uniform(0.0, 0.35, (n, _MAX_STROKES, 1)) * t**4  # lighter at the pen lift
    widths = base * per_stroke * pressure * taper

    pixels = fit_to_box(points, widths, mask)
    images = center_by_mass(render_polylines(pixels, widths, mask))
    images = np.rint(images * 255.0).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _class_indices(classes: tuple[str, ...] | list[str] | None) -> list[int]:
    if classes is None:
        return list(range(len(OPERATORS)))
    if isinstance(classes, str):
        classes = [classes]
    unknown = [c for c in classes if c not in OPERATORS]
    if unknown or not classes:
        raise DataError(
            f"unknown operator class(es) {unknown!r}" if unknown else "classes must not be empty",
            hint=f"choose from {list(OPERATORS)}",
        )
    return sorted({OPERATORS.index(c) for c in classes})
