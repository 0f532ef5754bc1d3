"""The pseudo-mask method registry: how a run's seeds become the masks DeepLabV2 trains on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from mmengine.registry import Registry

from ..errors import ConfigError
from ..run_results import read_json

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant
    from ..run_results import RunSummary
    from .base import RunPlan

#: Pseudo-mask methods by name (``--pseudo NAME``, ``cam@NAME``, a study's ``pseudo`` key).
PSEUDO_MASKS = Registry("pseudo-mask method")


class PseudoMaskMethod:
    """Seeds -> pseudo-masks, through the pipeline's stage cache.

    A subclass implements :meth:`build`. Its stages go through ``pipe.cache.build`` (keyed on
    what they read, atomic) so reruns reuse them. The returned ``"masks"`` folder holds
    ``pseudo_masks/<id>.png`` for every ``train_aug`` image (VOC palette, 0 background,
    ``1..K`` classes) and ``mask_eval/metrics.json`` (:func:`c2am_bench.evaluation.
    evaluate_label_maps` on ``train``), which DeepLabV2 and the report read.

    Attributes:
        folders: the stage-cache folders it writes (``--force`` accepts these names).
    """

    folders: ClassVar[tuple[str, ...]] = ()

    def build(self, pipe: Pipeline, variant: Variant, seed: int,
              seeds_dir: Path) -> dict[str, Path]:  # fmt: skip
        """Make (or reuse) the variant's pseudo-masks from ``seeds_dir/cams``.

        Returns:
            Stage folders by name, ``"masks"`` among them; every one is recorded as the run's
            provenance (``stage_dirs`` in ``runs.csv``).
        """
        raise NotImplementedError

    def summarise(self, pipe: Pipeline, plan: RunPlan, dirs: dict,
                  out: RunSummary) -> None:  # fmt: skip
        """Columns of the method's own stages (the masks' are the ``masks`` stage's); by
        default the seconds its ``masks`` folder took."""
        out.row["seconds_pseudo_masks"] = read_json(dirs["masks"] / "stage.json").get("seconds")


def build_pseudo_mask_method(name: str) -> PseudoMaskMethod:
    """The registered pseudo-mask method ``name``.

    Looked up with ``get``, not ``build``: after an mmengine Runner the default scope is
    ``mmseg``, and ``build`` would then log that ``mmseg`` is not in this registry's tree (or, in
    this registry's own scope, that ``c2am_bench.registry`` does not exist).
    """
    cls = PSEUDO_MASKS.get(name)
    if cls is None:
        raise ConfigError(f"unknown pseudo-mask method {name!r}; choose from "
                          f"{', '.join(pseudo_methods())}")  # fmt: skip
    return cls()


def pseudo_methods() -> tuple[str, ...]:
    """The registered pseudo-mask method names, ``irn`` first."""
    names = sorted(PSEUDO_MASKS.module_dict)
    return tuple(sorted(names, key=lambda n: (n != "irn", n != "crf", n)))
