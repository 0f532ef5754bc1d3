"""A run's chain: registered stages, each filling cached folders and summarising them.

A run (one variant x one seed, :meth:`c2am_bench.pipeline.Pipeline.run`) is a list of stage
names (:func:`chain`). Each name is a :class:`Stage` registered in :data:`STAGES`; the pipeline
builds it, calls :meth:`Stage.run` in chain order (each stage reads the folders the earlier ones
returned), then :meth:`Stage.summarise` in the same order into the run's report rows. A project
outside the package adds a stage with a decorator and names it in its profile's ``extra_stages``
(with the module in ``custom_imports``; README, "Extending")::

    @STAGES.register_module(name="mask_area")
    class MaskArea(Stage):
        reads = ("masks",)
        folders = ("mask_area",)

        def run(self, pipe, plan, dirs):
            key = stage_key("mask_area", dirs["masks"].name)
            return {"mask_area": pipe.cache.build("mask_area", key, fill)}

        def summarise(self, pipe, plan, dirs, out):
            out.row["fg_area"] = ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from mmengine.registry import Registry

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant
    from ..run_results import RunSummary

#: The stages a run's chain is made of, by name (``seeds``, ``masks``, ``segmentor``, ...).
STAGES = Registry("pipeline stage")

UNTIL = ("seeds", "masks", "seg")
# Seeds, IR labels, the walk and the pseudo-masks cover train_aug (what DeepLabV2 trains on);
# seeds and masks are scored on train (VOC's convention), the classifier and DeepLabV2 on val.
SEED_SPLIT, EVAL_SPLIT = "train_aug", "train"
#: The built-in stages, in chain order (a run climbs those its plan asks for).
BUILTIN_CHAIN = ("seeds", "masks", "segmentor", "oracle", "heldout", "confounders")


@dataclass(frozen=True)
class RunPlan:
    """What one run does: ``variant`` at ``seed`` up to ``until`` (``seeds``, ``masks``,
    ``seg``), climbing the oracle ladder when ``oracle``."""

    variant: Variant
    seed: int
    until: str = "seg"
    oracle: bool = False

    def __post_init__(self) -> None:
        if self.until not in UNTIL:
            raise ConfigError(f"until={self.until!r}: choose from {', '.join(UNTIL)}")

    @property
    def reaches_masks(self) -> bool:
        return self.until in ("masks", "seg")


class Stage:
    """One step of a run's chain.

    Attributes:
        reads: names in ``dirs`` the stage needs from earlier stages (checked before it runs).
        folders: the stage-cache folders it writes (``--force`` accepts these names).
        needs: how far a run must go for the stage to apply (``seeds``, ``masks`` or ``seg``,
            as ``--until``); a profile's extra stage is left out of shorter runs.
    """

    reads: ClassVar[tuple[str, ...]] = ()
    folders: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[str] = "seeds"

    def run(self, pipe: Pipeline, plan: RunPlan,
            dirs: Mapping[str, Path | None]) -> dict[str, Path | None]:  # fmt: skip
        """Make (or reuse, through ``pipe.cache``) this stage's folders.

        Returns:
            The folders by name; they join ``dirs`` (the later stages' input and the run's
            provenance, ``stage_dirs`` in ``runs.csv``). ``None`` for one that does not apply.
        """
        raise NotImplementedError

    def summarise(self, pipe: Pipeline, plan: RunPlan, dirs: Mapping[str, Path | None],
                  out: RunSummary) -> None:  # fmt: skip
        """Add this stage's columns to ``out.row`` and its per-class IoUs / curves to ``out``."""


def chain(plan: RunPlan, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The stage names of ``plan``, in order, with a profile's ``extra`` stages last (those
    whose :attr:`Stage.needs` the plan reaches).

    ``seeds`` (classifier + CAM seeds) -> ``masks`` (the variant's pseudo-mask method) ->
    ``segmentor`` (DeepLabV2 + its evaluations) -> ``oracle`` (the ladder's rungs) ->
    ``heldout`` (thresholds chosen on held-out images) -> ``confounders`` (CAM mass shares).
    """
    names = ["seeds"]
    if plan.reaches_masks:
        names.append("masks")
    if plan.until == "seg":
        names.append("segmentor")
    if plan.oracle and plan.reaches_masks:
        names.append("oracle")
    names += ["heldout", "confounders"]
    for name in extra:
        needs = getattr(build_stage(name), "needs", "seeds")
        if needs not in UNTIL:
            raise ConfigError(f"pipeline stage {name!r}: needs={needs!r}; choose from "
                              f"{', '.join(UNTIL)}")  # fmt: skip
        if UNTIL.index(needs) <= UNTIL.index(plan.until):
            names.append(name)
    return tuple(names)


def build_stage(name: str) -> Stage:
    """The registered stage ``name`` (one-line error naming the choices)."""
    if name not in STAGES.module_dict:
        raise ConfigError(f"unknown pipeline stage {name!r}; registered: "
                          f"{', '.join(sorted(STAGES.module_dict))}")  # fmt: skip
    stage = STAGES.get(name)()  # get, not build: no search of the scope a Runner left behind
    if not isinstance(stage, Stage):
        raise ConfigError(f"pipeline stage {name!r} is not a c2am_bench.stages.Stage")
    return stage


def cache_folders() -> tuple[str, ...]:
    """Every stage-cache folder a registered stage or pseudo-mask method writes."""
    from .pseudo_masks import PSEUDO_MASKS

    names: dict[str, None] = {"data": None}
    for registry in (STAGES, PSEUDO_MASKS):
        for cls in registry.module_dict.values():
            names.update(dict.fromkeys(getattr(cls, "folders", ())))
    return tuple(names)
