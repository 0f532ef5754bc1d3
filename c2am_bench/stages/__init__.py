"""Registered pipeline components: the stages of a run's chain and the pseudo-mask methods.

* :data:`STAGES`: one :class:`Stage` per step of a run (``seeds``, ``masks``, ``segmentor``,
  ``oracle``, ``heldout``, ``confounders``), each in its own module with the cached functions it
  is made of (:mod:`.classifier`, :mod:`.seeds`, :mod:`.ir_labels`, :mod:`.boundary`,
  :mod:`.walk`, :mod:`.masks`, :mod:`.segmentor`, :mod:`.oracle`, :mod:`.heldout`,
  :mod:`.confounders`); the maths they call lives in the package's top-level modules
  (``c2am_bench.seeds``, ``c2am_bench.ir_labels``, ``c2am_bench.random_walk``, ...).
* :data:`PSEUDO_MASKS`: how seeds become pseudo-masks (``irn``, ``crf``).

A project outside the package adds either with a decorator in a module its profile names in
``custom_imports`` (a stage also in the profile's ``extra_stages``; README, "Extending")::

    from c2am_bench.stages import PSEUDO_MASKS, PseudoMaskMethod

    @PSEUDO_MASKS.register_module(name="mine")
    class MyMasks(PseudoMaskMethod):
        def build(self, pipe, variant, seed, seeds_dir):
            ...  # write <folder>/pseudo_masks/<id>.png and <folder>/mask_eval/metrics.json
            return {"masks": folder}
"""

from __future__ import annotations

# the built-in components register on import
from . import confounders, crf, heldout, irn, masks, oracle, seeds, segmentor  # noqa: F401, I001
from .base import (
    BUILTIN_CHAIN,
    EVAL_SPLIT,
    SEED_SPLIT,
    STAGES,
    UNTIL,
    RunPlan,
    Stage,
    build_stage,
    cache_folders,
    chain,
)
from .pseudo_masks import PSEUDO_MASKS, PseudoMaskMethod, pseudo_methods

__all__ = [
    "BUILTIN_CHAIN", "EVAL_SPLIT", "PSEUDO_MASKS", "SEED_SPLIT", "STAGES", "UNTIL",
    "PseudoMaskMethod", "RunPlan", "Stage", "build_stage", "cache_folders", "chain",
    "pseudo_methods",
]  # fmt: skip
