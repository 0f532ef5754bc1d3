"""After a quiet training the process keeps logging cleanly: mmengine keeps the finished Runner's
logger as its current instance, so nothing may be left bound to the closed console sink, and the
package's stages and pseudo-mask methods are looked up without mmengine's scope search (the Runner
left ``mmseg`` as the default scope, which warned)."""

from __future__ import annotations

import logging

from mmengine.logging import MMLogger, print_log

from c2am_bench.stages import PseudoMaskMethod, build_stage
from c2am_bench.stages.pseudo_masks import build_pseudo_mask_method
from c2am_bench.train import train

# mmengine's two scope warnings: a default scope not in the registry's tree, a scope whose
# ``<scope>.registry`` module does not exist
SCOPE_WARNINGS = ("Failed to search registry", "make sure the registry.py exists")


def test_messages_after_a_quiet_training_reach_a_live_handler(one_epoch_classifier, tmp_path,
                                                              capsys):  # fmt: skip
    cfg = one_epoch_classifier
    train(cfg, resume=False, stage="classifier", quiet_console=True)
    capsys.readouterr()
    logger = MMLogger.get_current_instance()
    assert not [h for h in logger.handlers if type(h) is logging.StreamHandler and h.stream.closed]
    print_log("a message after the training", logger="current", level=logging.WARNING)
    method = build_pseudo_mask_method("irn")
    stage = build_stage("masks")
    err = capsys.readouterr().err
    assert "Logging error" not in err and not any(w in err for w in SCOPE_WARNINGS), err
    assert isinstance(method, PseudoMaskMethod) and "boundary_net" in method.folders
    assert stage.reads == ("seeds",)
    for handler in logger.handlers:  # the message went to the run's log file
        handler.flush()
    (log,) = (tmp_path / "run").glob("*/*.log")
    text = log.read_text()
    assert "a message after the training" in text
    assert not any(w in text for w in SCOPE_WARNINGS)
