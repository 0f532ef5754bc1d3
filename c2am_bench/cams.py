"""CAM maths shared by every method: multi-scale/flip fusion, seeds and the Global CAM.

Everything here is pure torch/numpy -- no model code. A model enters only as ``cam_fn``, a
callable mapping a normalised image batch ``(B, 3, h, w)`` to ReLU'd class activation maps
``(B, K, h', w')`` (for the IRN/C2AM ResNet-50 the stride-16 map, ``h' = ceil(h / 16)``).

The functions reproduce IRN's ``step/make_cam.py`` (seed = ``keys`` / ``cam`` / ``high_res``) and
C2AM's ``make_square_cam.py`` + ``misc/pyutils.py::sum_cams, sum_cams_by_class`` (Global CAM).

References:
    * Ahn et al., "Weakly Supervised Learning of Instance Segmentation with Inter-pixel
      Relations", CVPR 2019, https://arxiv.org/abs/1904.05044 (IRN).
    * Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic Segmentation",
      UAI 2022 CRL workshop (C2AM); code: https://github.com/yiping-wang/c2am.
"""

from __future__ import annotations

import json
import logging
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import write_file, write_text
from .errors import DataError

logger = logging.getLogger(__name__)

#: Added to the per-class spatial maximum before dividing, exactly as the reference code does.
NORM_EPS = 1e-5

CamFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = [
    "GlobalCAMAccumulator",
    "load_global_cam",
    "load_seed",
    "make_seed",
    "max_normalise",
    "multiscale_flip_cams",
    "multiscale_flip_cams_batched",
    "save_seed",
    "strided_size",
    "strided_up_size",
]


# --------------------------------------------------------------------------- sizes


def strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Feature-map size of an image at ``stride`` (IRN ``imutils.get_strided_size``).

    Args:
        size: Image size ``(H, W)``.
        stride: Output stride, e.g. 4 or 16.

    Returns:
        ``(ceil(H / stride), ceil(W / stride))``.
    """
    return (math.ceil(size[0] / stride), math.ceil(size[1] / stride))


def strided_up_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Image size rounded up to a multiple of ``stride`` (IRN ``imutils.get_strided_up_size``).

    Args:
        size: Image size ``(H, W)``.
        stride: Output stride, e.g. 16.

    Returns:
        ``(stride * ceil(H / stride), stride * ceil(W / stride))``.
    """
    h, w = strided_size(size, stride)
    return (h * stride, w * stride)


def _scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    # np.round (round-half-to-even) as in IRN's ``imutils.pil_rescale``.
    return (int(np.round(size[0] * scale)), int(np.round(size[1] * scale)))


# --------------------------------------------------------------------------- multi-scale + flip


def _rescale(images: torch.Tensor, scale: float) -> torch.Tensor:
    """Bicubic rescale of a normalised float batch ``(B, 3, H, W)``; scale 1 is returned as is."""
    size = _scaled_size(tuple(images.shape[-2:]), scale)
    if size == tuple(images.shape[-2:]):
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False)


def multiscale_flip_cams(
    cam_fn: CamFn, image: torch.Tensor, scales: Sequence[float]
) -> list[torch.Tensor]:
    """Per-scale CAMs of one image with horizontal-flip test-time augmentation.

    For every scale ``s`` the image is resized to ``(round(H*s), round(W*s))``, the batch
    ``[x_s, hflip(x_s)]`` goes through ``cam_fn`` and ``CAM_s = out[0] + hflip(out[1])`` (summed,
    not averaged, as in IRN ``make_cam``).

    Note:
        The reference rescales the *uint8* image with PIL bicubic and normalises afterwards; here
        the already-normalised float tensor is rescaled with ``F.interpolate(mode="bicubic",
        align_corners=False)``. The two differ slightly (PIL's bicubic uses a = -0.5 and an
        antialiasing support when downscaling, torch uses a = -0.75 without antialiasing, and no
        uint8 rounding/clipping happens here), so CAMs match the reference only approximately.

    Args:
        cam_fn: Maps ``(B, 3, h, w)`` to ReLU'd CAMs ``(B, K, h', w')``.
        image: Normalised image ``(3, H, W)``.
        scales: Scale factors, e.g. ``(1.0, 0.5, 1.5, 2.0)``.

    Returns:
        One tensor ``(K, h'_s, w'_s)`` per scale, in the order of ``scales``.
    """
    if image.dim() != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    return multiscale_flip_cams_batched(cam_fn, [image], scales)[0]


def multiscale_flip_cams_batched(
    cam_fn: CamFn, images: Sequence[torch.Tensor], scales: Sequence[float]
) -> list[list[torch.Tensor]]:
    """:func:`multiscale_flip_cams` for several images of the same size, one forward per scale.

    Each scale runs ``cam_fn`` once on ``[x_1 .. x_B, hflip(x_1) .. hflip(x_B)]`` (``2B`` images),
    which is what makes seed generation fast on a GPU. With a model whose batch-norm statistics are
    frozen (IRN's FixedBatchNorm / eval mode) the result equals the unbatched one.

    Args:
        cam_fn: Maps ``(2B, 3, h, w)`` to ReLU'd CAMs ``(2B, K, h', w')``.
        images: ``B`` normalised images, each ``(3, H, W)`` with the same ``H, W``.
        scales: Scale factors.

    Returns:
        ``result[b][i]`` is ``CAM_{scales[i]}`` of ``images[b]``, shape ``(K, h'_i, w'_i)``.
    """
    if len(images) == 0:
        return []
    if not scales:
        raise ValueError("scales must not be empty")
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"images must all have the same shape (3, H, W), got {sorted(shapes)}")
    batch = torch.stack(list(images))
    n = batch.shape[0]
    out: list[list[torch.Tensor]] = [[] for _ in range(n)]
    with torch.no_grad():
        for scale in scales:
            x = _rescale(batch, float(scale))
            cams = cam_fn(torch.cat([x, x.flip(-1)], dim=0))
            if cams.dim() != 4 or cams.shape[0] != 2 * n:
                raise ValueError(
                    f"cam_fn must return (2B, K, h, w) = ({2 * n}, K, h, w), "
                    f"got {tuple(cams.shape)}"
                )
            fused = cams[:n] + cams[n:].flip(-1)
            for b in range(n):
                out[b].append(fused[b])
    return out


# --------------------------------------------------------------------------- normalisation, seeds


def max_normalise(cam, eps: float = NORM_EPS):
    """Divide every class map by its spatial maximum plus ``eps``.

    Args:
        cam: ``(K, H, W)`` non-negative maps, a torch tensor or a numpy array.
        eps: Added to the maximum (1e-5 in IRN/C2AM), so an all-zero map stays zero and every
            value lies in ``[0, 1)``.

    Returns:
        Same type and shape as ``cam``.
    """
    if isinstance(cam, np.ndarray):
        if cam.shape[0] == 0:
            return cam.copy()
        return cam / (cam.max(axis=(-2, -1), keepdims=True) + eps)
    if cam.shape[0] == 0:
        return cam.clone()
    return cam / (cam.amax(dim=(-2, -1), keepdim=True) + eps)


def _resize_sum(cams_per_scale: Sequence[torch.Tensor], keys: torch.Tensor, size) -> torch.Tensor:
    """Bilinearly resize ``cam[keys]`` of every scale to ``size`` and sum -> ``(n, *size)``."""
    total = None
    for cam in cams_per_scale:
        resized = F.interpolate(
            cam[keys].unsqueeze(0).float(), size=size, mode="bilinear", align_corners=False
        )[0]
        total = resized if total is None else total + resized
    return total


def _check_cams(cams_per_scale: Sequence[torch.Tensor]) -> int:
    if len(cams_per_scale) == 0:
        raise ValueError("cams_per_scale must hold at least one scale")
    ks = {int(c.shape[0]) for c in cams_per_scale}
    if len(ks) != 1 or any(c.dim() != 3 for c in cams_per_scale):
        raise ValueError("every CAM in cams_per_scale must be (K, h, w) with the same K")
    return ks.pop()


def make_seed(
    cams_per_scale: Sequence[torch.Tensor], image_size: tuple[int, int], keys
) -> dict[str, np.ndarray]:
    """Fuse per-scale CAMs into IRN's seed dictionary (``step/make_cam.py``).

    * ``cam``: every ``CAM_s`` bilinearly resized (``align_corners=False``) to
      ``strided_size(image_size, 4)``, summed over scales, restricted to ``keys``,
      max-normalised. Consumed by the random walk.
    * ``high_res``: every ``CAM_s`` resized to ``strided_up_size(image_size, 16)``, summed,
      cropped to ``[:H, :W]``, restricted to ``keys``, max-normalised. Used for seed evaluation
      and IR labels.

    Restricting to ``keys`` before resizing gives the same numbers (resizing is per channel) and
    saves work.

    Args:
        cams_per_scale: ``(K, h_s, w_s)`` per scale (e.g. from :func:`multiscale_flip_cams`).
        image_size: Original image size ``(H, W)``.
        keys: 0-based ids of the image's classes, shape ``(n,)``.

    Returns:
        ``keys`` ``(n,)`` int64, ``cam`` ``(n, ceil(H/4), ceil(W/4))`` float32 and
        ``high_res`` ``(n, H, W)`` float32, as numpy arrays.
    """
    num_classes = _check_cams(cams_per_scale)
    keys_np = np.asarray(keys, dtype=np.int64).reshape(-1)
    if keys_np.size and (keys_np.min() < 0 or keys_np.max() >= num_classes):
        raise ValueError(f"keys must lie in [0, {num_classes}), got {keys_np.tolist()}")
    h, w = int(image_size[0]), int(image_size[1])
    small = strided_size((h, w), 4)
    if keys_np.size == 0:
        return {
            "keys": keys_np,
            "cam": np.zeros((0, *small), np.float32),
            "high_res": np.zeros((0, h, w), np.float32),
        }
    idx = torch.as_tensor(keys_np, device=cams_per_scale[0].device)
    with torch.no_grad():
        cam = max_normalise(_resize_sum(cams_per_scale, idx, small))
        high = _resize_sum(cams_per_scale, idx, strided_up_size((h, w), 16))[:, :h, :w]
        high = max_normalise(high)
    return {
        "keys": keys_np,
        "cam": cam.cpu().numpy().astype(np.float32, copy=False),
        "high_res": high.cpu().numpy().astype(np.float32, copy=False),
    }


# --------------------------------------------------------------------------- files


def save_seed(
    path: str | os.PathLike,
    seed: dict[str, np.ndarray],
    dtype: str = "float16",
    *,
    compress: bool = False,
) -> None:
    """Write a seed (from :func:`make_seed`) as ``.npz`` with keys ``keys``, ``cam``, ``high_res``.

    The maps are stored as ``dtype`` (float16 by default: half the disk; values in ``[0, 1]`` keep
    ~3 significant digits, i.e. at most ~5e-4 absolute error, below the 0.01 threshold grid).
    The write is atomic (temp file in the same folder, then ``os.replace``).

    Args:
        path: Output file (conventionally ``<image_id>.npz``).
        seed: Dict with ``keys`` ``(n,)``, ``cam`` ``(n, h, w)``, ``high_res`` ``(n, H, W)``.
        dtype: Storage dtype of ``cam`` and ``high_res``.
        compress: Use ``np.savez_compressed`` (smaller, slower).
    """
    arrays = {
        "keys": np.asarray(seed["keys"], dtype=np.int64),
        "cam": np.asarray(seed["cam"]).astype(dtype),
        "high_res": np.asarray(seed["high_res"]).astype(dtype),
    }
    saver = np.savez_compressed if compress else np.savez
    write_file(path, lambda f: saver(f, **arrays))


def _load_npz(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(path, "file does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in required if k not in data.files]
            if missing:
                raise DataError(path, f"missing arrays {missing} (found {sorted(data.files)})")
            return {k: data[k] for k in data.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from exc


def load_seed(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and validate a seed written by :func:`save_seed`.

    Args:
        path: The ``.npz`` file.

    Returns:
        ``keys`` ``(n,)`` int64, ``cam`` ``(n, h, w)`` float32, ``high_res`` ``(n, H, W)`` float32.

    Raises:
        DataError: The file is missing, unreadable, lacks an array, has inconsistent shapes or
            non-finite values. The message names the file.
    """
    path = Path(path)
    data = _load_npz(path, ("keys", "cam", "high_res"))
    keys, cam, high = data["keys"], data["cam"], data["high_res"]
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise DataError(path, f"'keys' must be a 1-D integer array, got {keys.dtype} {keys.shape}")
    for name, arr in (("cam", cam), ("high_res", high)):
        if arr.ndim != 3 or arr.shape[0] != keys.shape[0]:
            raise DataError(
                path,
                f"'{name}' has shape {arr.shape}, expected ({keys.shape[0]}, H, W) "
                f"to match {keys.shape[0]} keys",
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise DataError(path, f"'{name}' must be floating point, got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise DataError(path, f"'{name}' contains NaN or infinite values")
    return {
        "keys": keys.astype(np.int64),
        "cam": cam.astype(np.float32),
        "high_res": high.astype(np.float32),
    }


# --------------------------------------------------------------------------- Global CAM


class GlobalCAMAccumulator:
    """Build C2AM's Global CAM ``G`` (the ``P(y|x,z)`` confounder prior) image by image.

    Per image: every ``CAM_s`` is bilinearly resized to ``size x size`` (aspect ratio not kept),
    summed over scales -> ``A``; for labelled classes ``Â_z = A_z / (max A_z + 1e-5)``, for the
    others ``Â_z = 0``. Two aggregations, both kept (which one the paper used is unrecorded):

    * ``all`` (C2AM ``sum_cams``, ``global_cam.npy``): ``G^all_z = (1/N) Σ_n Â_{n,z}``.
    * ``by_class`` (``sum_cams_by_class``): ``G^cls_z = (1/N_z) Σ_n Â_{n,z}`` where ``N_z`` counts
      images whose ``Â_{n,z}`` is not all zero (so ``G^all_z = (N_z/N) G^cls_z``).

    Paper: Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic
    Segmentation", UAI 2022 CRL workshop; code: https://github.com/yiping-wang/c2am
    (``make_square_cam.py``, ``misc/pyutils.py``).

    Args:
        num_classes: ``K`` (20 for VOC).
        size: Side of the square map (``cam_square_shape``, 128).
        class_names: Optional names used in warnings and the JSON summary.
    """

    def __init__(
        self, num_classes: int, size: int = 128, class_names: Sequence[str] | None = None
    ) -> None:
        if num_classes <= 0 or size <= 0:
            raise ValueError(f"num_classes and size must be positive, got {num_classes}, {size}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names, expected {num_classes}")
        self.num_classes = num_classes
        self.size = size
        self.class_names = list(class_names) if class_names is not None else None
        self.sum = np.zeros((num_classes, size, size), np.float64)
        self.counts = np.zeros(num_classes, np.int64)
        self.n_images = 0

    def add(self, cams_per_scale: Sequence[torch.Tensor], labels) -> None:
        """Add one image.

        Args:
            cams_per_scale: ``(K, h_s, w_s)`` per scale (ReLU'd, e.g. the stride-16 maps).
            labels: ``(K,)`` multi-hot image labels (torch or numpy).
        """
        k = _check_cams(cams_per_scale)
        if k != self.num_classes:
            raise ValueError(f"CAMs have {k} classes, accumulator expects {self.num_classes}")
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().numpy()
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != self.num_classes:
            raise ValueError(f"labels must have shape ({self.num_classes},), got {labels.shape}")
        self.n_images += 1
        keys = np.flatnonzero(labels > 0)
        if keys.size == 0:
            return
        idx = torch.as_tensor(keys, device=cams_per_scale[0].device)
        with torch.no_grad():
            norm = max_normalise(_resize_sum(cams_per_scale, idx, (self.size, self.size)))
        norm = norm.cpu().numpy().astype(np.float64)
        self.sum[keys] += norm
        self.counts[keys] += norm.reshape(keys.size, -1).any(axis=1)

    def _name(self, z: int) -> str:
        return self.class_names[z] if self.class_names is not None else f"class {z}"

    def result(self) -> dict:
        """Aggregate what was added.

        Returns:
            ``all`` ``(K, S, S)`` and ``by_class`` ``(K, S, S)`` float32, ``counts`` ``(K,)``
            int64, ``n_images`` int, ``means_all`` and ``means_by_class`` ``(K,)`` float64
            (per-class spatial means ``M_z``, the only thing C2AM's loss uses).
        """
        if self.n_images == 0:
            raise ValueError("GlobalCAMAccumulator.result() called before any image was added")
        empty = np.flatnonzero(self.counts == 0)
        if empty.size:
            logger.warning(
                "Global CAM: no image with a non-zero CAM for %s; their by-class map is all zero",
                ", ".join(self._name(int(z)) for z in empty),
            )
        g_all = (self.sum / self.n_images).astype(np.float32)
        g_cls = (self.sum / np.maximum(self.counts, 1)[:, None, None]).astype(np.float32)
        return {
            "all": g_all,
            "by_class": g_cls,
            "counts": self.counts.copy(),
            "n_images": int(self.n_images),
            "means_all": g_all.astype(np.float64).mean(axis=(1, 2)),
            "means_by_class": g_cls.astype(np.float64).mean(axis=(1, 2)),
        }

    def save(self, path: str | os.PathLike) -> dict:
        """Write ``all``, ``by_class``, ``counts``, ``n_images`` to ``path`` (npz) atomically, and
        a summary ``<stem>.json`` beside it (counts, n_images, per-class means of both).

        Returns:
            The :meth:`result` dict.
        """
        path = Path(path)
        res = self.result()
        arrays = {k: np.asarray(res[k]) for k in ("all", "by_class", "counts", "n_images")}
        write_file(path, lambda f: np.savez(f, **arrays))
        names = self.class_names or [str(z) for z in range(self.num_classes)]
        summary = {
            "n_images": res["n_images"],
            "size": self.size,
            "class_names": names,
            "counts": res["counts"].tolist(),
            "means_all": dict(zip(names, res["means_all"].tolist(), strict=True)),
            "means_by_class": dict(zip(names, res["means_by_class"].tolist(), strict=True)),
        }
        write_text(path.with_suffix(".json"), json.dumps(summary, indent=2) + "\n")
        return res


def load_global_cam(path: str | os.PathLike) -> dict:
    """Read and validate a Global CAM written by :meth:`GlobalCAMAccumulator.save`.

    Args:
        path: The ``.npz`` file.

    Returns:
        ``all``, ``by_class`` ``(K, S, S)`` float32, ``counts`` ``(K,)`` int64, ``n_images`` int.

    Raises:
        DataError: Missing file or array, inconsistent shapes, negative or non-finite values.
    """
    path = Path(path)
    data = _load_npz(path, ("all", "by_class", "counts", "n_images"))
    g_all, g_cls, counts = data["all"], data["by_class"], data["counts"]
    n_images = data["n_images"]
    for name, arr in (("all", g_all), ("by_class", g_cls)):
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise DataError(path, f"'{name}' must have shape (K, S, S), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
            raise DataError(path, f"'{name}' must be finite floating point values")
        if (arr < 0).any():
            raise DataError(path, f"'{name}' contains negative values")
    if g_all.shape != g_cls.shape:
        raise DataError(path, f"'all' {g_all.shape} and 'by_class' {g_cls.shape} differ in shape")
    if counts.shape != (g_all.shape[0],) or (counts < 0).any():
        raise DataError(path, f"'counts' must be {g_all.shape[0]} non-negative values")
    if n_images.shape != () or int(n_images) <= 0:
        raise DataError(path, f"'n_images' must be a positive scalar, got {n_images}")
    if (counts > int(n_images)).any():
        raise DataError(path, "'counts' exceed 'n_images'")
    return {
        "all": g_all.astype(np.float32),
        "by_class": g_cls.astype(np.float32),
        "counts": counts.astype(np.int64),
        "n_images": int(n_images),
    }
