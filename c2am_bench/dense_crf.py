"""Dense-CRF post-processing of a segmentation model's class probabilities.

The final stage of the WSSS recipe (IRN / AdvCAM / C2AM, via kazuto1011/deeplab-pytorch's
``libs/utils/crf.py::DenseCRF``) refines DeepLabV2's softmax with a fully connected CRF before the
arg-max: unary ``-log p`` (``pydensecrf.utils.unary_from_softmax``, probabilities clipped at
``1e-5``), a Gaussian smoothness kernel and a bilateral appearance kernel on the image, then
mean-field inference. :data:`DEEPLAB_CRF` holds that recipe's parameters (``configs/voc12.yaml``:
``ITER_MAX 10, POS_W 3, POS_XY_STD 1, BI_W 4, BI_XY_STD 67, BI_RGB_STD 3``).

The reference feeds the image in OpenCV's BGR order; with one colour width ``bi_rgb_std`` for all
three channels the bilateral kernel depends only on colour distances, so RGB gives the same
result.

:func:`c2am_bench.ir_labels.crf_inference_label` is the other dense CRF of the pipeline (IRN's,
on a *hard* label map with different parameters); this one takes probabilities.

References:
    * Krähenbühl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
      Potentials", NeurIPS 2011, https://arxiv.org/abs/1210.5644.
    * Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous
      Convolution, and Fully Connected CRFs", TPAMI 2018, https://arxiv.org/abs/1606.00915.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEEPLAB_CRF", "crf_refine_probs"]

#: deeplab-pytorch's test-time CRF as the C2AM fork runs it (algorithms.md a.8, item 10).
DEEPLAB_CRF: dict[str, float] = {
    "iters": 10,
    "pos_w": 3,
    "pos_xy_std": 1,
    "bi_w": 4,
    "bi_xy_std": 67,
    "bi_rgb_std": 3,
}


def crf_refine_probs(
    img: np.ndarray,
    probs: np.ndarray,
    *,
    iters: int = 10,
    pos_w: float = 3,
    pos_xy_std: float = 1,
    bi_w: float = 4,
    bi_xy_std: float = 67,
    bi_rgb_std: float = 3,
) -> np.ndarray:
    """Mean-field dense-CRF marginals from class probabilities and the image.

    Args:
        img: ``(H, W, 3)`` uint8 image (RGB or BGR; see the module note).
        probs: ``(C, H, W)`` class probabilities (a softmax; each pixel sums to 1).
        iters: Mean-field iterations.
        pos_w, pos_xy_std: Gaussian (smoothness) kernel weight and width in pixels.
        bi_w, bi_xy_std, bi_rgb_std: Bilateral (appearance) kernel weight, width in pixels and
            width in intensity levels.

    Returns:
        ``(C, H, W)`` float32 marginals; their arg-max over ``C`` is the refined label map.

    Raises:
        ValueError: Shapes or dtypes do not match, or ``probs`` is not finite in ``[0, 1]``.
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    img = np.asarray(img)
    probs = np.asarray(probs)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"img must be (H, W, 3) uint8, got {img.dtype} {img.shape}")
    if probs.ndim != 3 or probs.shape[1:] != img.shape[:2] or probs.shape[0] < 1:
        raise ValueError(f"probs must be (C, {img.shape[0]}, {img.shape[1]}), got {probs.shape}")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 + 1e-4:
        raise ValueError("probs must be finite probabilities in [0, 1]")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    c, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    # pydensecrf needs C-contiguous float32 unaries and a writable C-contiguous uint8 image
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs), dtype=np.float32))
    crf.addPairwiseGaussian(sxy=pos_xy_std, compat=pos_w)
    rgb = np.array(img, order="C", copy=True)
    crf.addPairwiseBilateral(sxy=bi_xy_std, srgb=bi_rgb_std, rgbim=rgb, compat=bi_w)
    return np.asarray(crf.inference(iters), dtype=np.float32).reshape(c, h, w)
