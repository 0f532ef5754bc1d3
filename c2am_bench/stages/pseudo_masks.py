"""The pseudo-mask method registry: how a run's seeds become the masks DeepLabV2 trains on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmengine.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Runner, Variant

#: Pseudo-mask methods by name (``--pseudo NAME``, ``cam@NAME``, a study's ``pseudo`` key).
PSEUDO_MASKS = Registry("pseudo-mask method")


class PseudoMaskMethod:
    """Seeds -> pseudo-masks, through the runner's stage cache.

    A subclass implements :meth:`build`. Its stages go through ``runner.cache.build`` (keyed on
    what they read, atomic) so reruns reuse them. The returned ``"masks"`` folder holds
    ``pseudo_masks/<id>.png`` for every ``train_aug`` image (VOC palette, 0 background,
    ``1..K`` classes) and ``mask_eval/metrics.json`` (:func:`c2am_bench.evaluation.
    evaluate_label_maps` on ``train``), which DeepLabV2 and the report read.
    """

    def build(self, runner: Runner, variant: Variant, seed: int,
              seeds_dir: Path) -> dict[str, Path]:  # fmt: skip
        """Make (or reuse) the variant's pseudo-masks from ``seeds_dir/cams``.

        Returns:
            Stage folders by name, ``"masks"`` among them; every one is recorded as the run's
            provenance (``stage_dirs`` in ``runs.csv``).
        """
        raise NotImplementedError


def pseudo_methods() -> tuple[str, ...]:
    """The registered pseudo-mask method names, ``irn`` first."""
    names = sorted(PSEUDO_MASKS.module_dict)
    return tuple(sorted(names, key=lambda n: (n != "irn", n != "crf", n)))
