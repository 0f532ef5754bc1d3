"""The pseudo-mask stage's settings in one place: defaults, sources and range checks.

Every value a variant, a profile or a study can set for IR labels, the random walk, the
pseudo-masks and the ``crf`` method lives in :class:`IrnSettings`. The stage functions take its
defaults (:data:`IRN`), and every range check happens once, in its ``__post_init__``.

Sources (IRN, ``run_sample.py`` and ``step/``): ``conf_fg_thres`` 0.30, ``conf_bg_thres`` 0.05,
``sem_seg_bg_thres`` 0.25, ``beta`` 10, ``exp_times`` 8, the walk radius 5 of
``make_sem_seg_labels``, ``misc/imutils.py::crf_inference_label``'s kernels (bilateral ``sxy`` 50,
Gaussian ``sxy`` 3, for ~500 x 375 images) and ``cam_eval_thres`` 0.15.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from .errors import ConfigError


@dataclass(frozen=True)
class IrnSettings:
    """Settings of the pseudo-mask stage (IRN's defaults).

    Attributes:
        conf_fg: IR labels' background score of the confident-foreground pass.
        conf_bg: IR labels' background score of the confident-background pass (``< conf_fg``).
        sem_seg_bg: background score of the walked CAMs that makes the pseudo-masks.
        beta: affinity sharpness of the walk's transition matrix (``> 0``).
        exp_times: the transition matrix is squared this often (``T^(2^exp_times)``), 0..12.
        walk_radius: the walk's search radius in cells of the stride-4 grid, 2..10.
        crf_bi_sxy: the dense CRF's bilateral kernel width in pixels (``> 0``).
        crf_gauss_sxy: the dense CRF's Gaussian kernel width in pixels (``> 0``).
        crf_mask_bg: background score of the ``crf`` pseudo-mask method
            (:mod:`c2am_bench.crf_masks`).
    """

    conf_fg: float = 0.30
    conf_bg: float = 0.05
    sem_seg_bg: float = 0.25
    beta: float = 10
    exp_times: int = 8
    walk_radius: int = 5
    crf_bi_sxy: float = 50.0
    crf_gauss_sxy: float = 3.0
    crf_mask_bg: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf_bg < self.conf_fg <= 1.0:
            raise ConfigError(
                "IR label thresholds must satisfy 0 <= conf_bg < conf_fg <= 1, "
                f"got conf_fg={self.conf_fg!r}, conf_bg={self.conf_bg!r}"
            )
        for name in ("sem_seg_bg", "crf_mask_bg"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: must be in [0, 1]")
        for name in ("beta", "crf_bi_sxy", "crf_gauss_sxy"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: must be > 0")
        for name, low, high in (("exp_times", 0, 12), ("walk_radius", 2, 10)):
            value = getattr(self, name)
            if not (float(value).is_integer() and low <= value <= high):
                raise ConfigError(f"{name}={value!r}: must be an integer in {low}..{high}")

    @classmethod
    def merged(cls, *layers: Mapping[str, float] | None) -> IrnSettings:
        """IRN's defaults overridden by each of ``layers`` in turn (e.g. profile, variant).

        Raises:
            ConfigError: a key that is not a setting, or a value out of its range.
        """
        merged: dict = {}
        for layer in layers:
            cls.check_names(layer or {})
            merged.update(layer or {})
        return replace(cls(), **merged)

    @classmethod
    def check_names(cls, layer: Mapping[str, float]) -> None:
        """Raise :class:`ConfigError` naming any key of ``layer`` that is not a setting."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(layer) - set(names))
        if unknown:
            raise ConfigError(f"unknown IRN setting(s) {unknown}; choose from {', '.join(names)}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def crf(self) -> dict[str, float]:
        """The dense CRF's kernel widths as :func:`~c2am_bench.ir_labels.crf_inference_label`
        keywords."""
        return {"bi_sxy": self.crf_bi_sxy, "gauss_sxy": self.crf_gauss_sxy}


#: IRN's reference settings.
IRN = IrnSettings()
