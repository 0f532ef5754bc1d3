"""Pure drawing primitives for SynthVOC: shape masks, fill textures, context bands, void bands.

Everything works on numpy arrays and takes an explicit ``numpy.random.Generator`` so the generator
that composes them (:mod:`c2am_bench.datasets.synthvoc`) is byte-for-byte deterministic.
Coordinates: ``yy, xx`` are (H, W) float grids of pixel centres.
"""

from __future__ import annotations

import numpy as np

SHAPES: tuple[str, ...] = (
    "disc", "box", "triangle", "cross", "ring", "diamond", "hexagon", "star", "crescent", "ell",
)  # fmt: skip
TEXTURES: tuple[str, ...] = ("stripes", "checker", "dots", "waves", "mottled", "grid")
CONTEXTS: tuple[str, ...] = ("water", "grass", "sky", "sand", "road", "brick", "snow", "forest")

# Where each context sits in the frame and its two colours (RGB, 0-255).
_CONTEXT_STYLE: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    "water": ("bottom", (40, 90, 170), (90, 150, 215)),
    "grass": ("bottom", (40, 120, 40), (95, 170, 60)),
    "sky": ("top", (150, 190, 235), (215, 230, 250)),
    "sand": ("bottom", (200, 175, 120), (230, 210, 160)),
    "road": ("bottom", (70, 70, 75), (120, 120, 125)),
    "brick": ("left", (150, 60, 45), (200, 110, 80)),
    "snow": ("top", (225, 230, 240), (250, 250, 255)),
    "forest": ("right", (20, 70, 35), (60, 110, 50)),
}


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinate grids ``(yy, xx)``, each (H, W) float32."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy + 0.5, xx + 0.5


def local_coords(
    yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, radius: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Object-frame coordinates ``(u, v)``: centred on (cy, cx), rotated by ``angle``, scaled so
    the object's bounding circle has radius 1. Each (H, W)."""
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = (yy - cy) / radius, (xx - cx) / radius
    return c * dx + s * dy, -s * dx + c * dy


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray, aspect: float) -> np.ndarray:
    """Boolean (H, W) mask of ``shape`` in object coordinates; ``aspect`` in (0.5, 1] squeezes u."""
    u = u / aspect
    r = np.hypot(u, v)
    if shape == "disc":
        return r <= 1.0
    if shape == "box":
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.7)
    if shape == "triangle":
        return (v <= 0.75) & (np.abs(u) <= (v + 0.95) * 0.55)
    if shape == "cross":
        return ((np.abs(u) <= 0.32) & (np.abs(v) <= 1.0)) | (
            (np.abs(v) <= 0.32) & (np.abs(u) <= 1.0)
        )
    if shape == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "hexagon":
        return (np.abs(v) <= 0.85) & (np.abs(v) * 0.5 + np.abs(u) * 0.866 <= 0.85)
    if shape == "star":
        return r <= 0.55 + 0.4 * np.cos(5.0 * np.arctan2(v, u))
    if shape == "crescent":
        return (r <= 1.0) & (np.hypot(u - 0.45, v) > 0.75)
    if shape == "ell":
        return ((np.abs(u + 0.5) <= 0.4) & (np.abs(v) <= 0.95)) | (
            (np.abs(v - 0.6) <= 0.35) & (u >= -0.9) & (u <= 0.9)
        )
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def texture(
    name: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator, scale: float
) -> np.ndarray:
    """Fill pattern in [0, 1], (H, W) float32. ``scale`` is the object radius in pixels, so the
    pattern period is a fixed number of periods per object whatever its size."""
    f = max(2.0, 0.9 * np.sqrt(scale))  # periods per unit radius; ~4-8 for 20-80 px objects
    phase = rng.uniform(0, 2 * np.pi)
    if name == "stripes":
        t = 0.5 + 0.5 * np.sin(f * np.pi * (u + v) + phase)
    elif name == "checker":
        t = ((np.floor(f * (u + 3.0)) + np.floor(f * (v + 3.0))) % 2).astype(np.float32)
    elif name == "dots":
        a, b = np.mod(f * u + phase, 1.0) - 0.5, np.mod(f * v + phase, 1.0) - 0.5
        t = (np.hypot(a, b) < 0.3).astype(np.float32)
    elif name == "waves":
        t = 0.5 + 0.5 * np.sin(f * np.pi * u + 2.0 * np.sin(f * np.pi * v) + phase)
    elif name == "mottled":
        t = smooth_noise(rng, u.shape, cells=max(3, int(f * 2)))
    elif name == "grid":
        a, b = np.mod(f * u + phase, 1.0), np.mod(f * v + phase, 1.0)
        t = ((a < 0.25) | (b < 0.25)).astype(np.float32)
    else:
        raise ValueError(f"unknown texture {name!r}; expected one of {TEXTURES}")
    return t.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], (H, W) float32: a ``cells``x``cells`` random lattice
    interpolated bilinearly (numpy only, so identical on every platform)."""
    h, w = shape
    lattice = rng.random((cells + 1, cells + 1)).astype(np.float32)
    gy = np.linspace(0, cells, h, dtype=np.float32)
    gx = np.linspace(0, cells, w, dtype=np.float32)
    y0 = np.minimum(gy.astype(int), cells - 1)
    x0 = np.minimum(gx.astype(int), cells - 1)
    fy, fx = (gy - y0)[:, None], (gx - x0)[None, :]
    a = lattice[y0][:, x0]
    b = lattice[y0][:, x0 + 1]
    c = lattice[y0 + 1][:, x0]
    d = lattice[y0 + 1][:, x0 + 1]
    return (a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx).astype(
        np.float32
    )


def blend(t: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Map a pattern ``t`` (H, W) in [0, 1] to colours between ``c1`` and ``c2``: (H, W, 3)."""
    return c1[None, None, :] * (1.0 - t[..., None]) + c2[None, None, :] * t[..., None]


def context_region(
    name: str, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A context band ("water" at the bottom, "sky" at the top, ...) covering 25-45% of the frame.

    Returns:
        ``(mask, rgb)``: the band's (H, W) bool mask and its (H, W, 3) float32 colours.
    """
    where, c1, c2 = _CONTEXT_STYLE[name]
    h, w = yy.shape
    frac = rng.uniform(0.25, 0.45)
    along = xx if where in ("top", "bottom") else yy  # the band's edge wobbles along its length
    wobble = rng.uniform(0.02, 0.06) * np.sin(
        rng.uniform(2, 6) * np.pi * along / max(h, w) + rng.uniform(0, 6.3)
    )
    if where == "bottom":
        mask = yy / h >= 1.0 - frac + wobble
    elif where == "top":
        mask = yy / h <= frac + wobble
    elif where == "left":
        mask = xx / w <= frac + wobble
    else:
        mask = xx / w >= 1.0 - frac + wobble
    u, v = xx / 6.0, yy / 6.0
    if name in ("water", "sky", "snow"):
        t = 0.5 + 0.5 * np.sin(u * 1.3 + 1.5 * np.sin(v * 0.9) + rng.uniform(0, 6.3))
    elif name == "brick":
        row = np.floor(v * 1.5)
        t = ((np.mod(u + 0.5 * row, 2.0) < 0.15) | (np.mod(v * 1.5, 1.0) < 0.15)).astype(np.float32)
    elif name == "road":
        t = (np.abs(np.mod(u, 4.0) - 2.0) < 0.6) * (np.abs(np.mod(v, 3.0) - 1.5) < 0.3)
    else:
        t = smooth_noise(rng, yy.shape, cells=max(4, int(max(h, w) / 5)))
    rgb = blend(t.astype(np.float32), np.asarray(c1, np.float32), np.asarray(c2, np.float32))
    return mask, rgb


def void_band(label: np.ndarray, width: int, ignore_index: int = 255) -> np.ndarray:
    """Mark a VOC-style void band along label boundaries.

    Args:
        label: (H, W) uint8 label map (0 = background, 1..K classes), without void pixels.
        width: 1 marks the object-side pixel of every boundary; 2 marks both sides (a 2 px band).

    Returns:
        A copy of ``label`` with band pixels set to ``ignore_index``.
    """
    edge = np.zeros(label.shape, bool)
    for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
        nb = np.roll(label, shift, axis=axis)
        diff = nb != label
        # np.roll wraps around; a pixel is never "next to" the opposite border.
        if axis == 0:
            diff[0 if shift == 1 else -1, :] = False
        else:
            diff[:, 0 if shift == 1 else -1] = False
        edge |= diff
    if width == 1:
        edge &= label > 0
    out = label.copy()
    out[edge] = ignore_index
    return out
