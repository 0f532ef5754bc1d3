"""Registered pipeline components a project outside the package can add to.

Today: the pseudo-mask methods (:data:`PSEUDO_MASKS`), seeds -> pseudo-masks. ``irn`` and ``crf``
are registered here; a user's own registers with a decorator in a module its profile names in
``custom_imports`` (README, "Extending")::

    from c2am_bench.stages import PSEUDO_MASKS, PseudoMaskMethod

    @PSEUDO_MASKS.register_module(name="mine")
    class MyMasks(PseudoMaskMethod):
        def build(self, runner, variant, seed, seeds_dir):
            ...  # write <folder>/pseudo_masks/<id>.png and <folder>/mask_eval/metrics.json
            return {"masks": folder}
"""

from __future__ import annotations

# the built-in methods register on import
from . import crf, irn  # noqa: E402, F401, I001
from .pseudo_masks import PSEUDO_MASKS, PseudoMaskMethod, pseudo_methods

__all__ = ["PSEUDO_MASKS", "PseudoMaskMethod", "pseudo_methods"]
