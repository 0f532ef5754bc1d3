"""Foreground error shares by SynthVOC region (c2am_bench.context_errors)."""

from __future__ import annotations

import numpy as np
import pytest

from c2am_bench.context_errors import (
    ERRORS,
    error_shares,
    evaluate_context_errors,
    png_label_maps,
    prediction_counts,
)
from c2am_bench.datasets import synthvoc, voc
from c2am_bench.datasets.synthvoc import BODY, CONTEXT
from c2am_bench.errors import DataError


def test_prediction_counts_hand_case():
    # 3 x 4 image: class 1's object on the left, class 2's on the right; row 2 is background,
    # its first three pixels class 1's context band (number 3), the last one plain.
    gt = np.array([[1, 1, 2, 2], [1, 255, 2, 2], [0, 0, 0, 0]], np.uint8)
    conf = np.zeros_like(gt)
    conf[:2, :2] = synthvoc.confounder_code(BODY, 1)
    conf[:2, 2:] = synthvoc.confounder_code(BODY, 2)
    conf[2, :3] = synthvoc.confounder_code(CONTEXT, 3)
    pred = np.array([[1, 1, 1, 2], [1, 1, 2, 2], [1, 1, 0, 1]], np.uint8)
    counts = prediction_counts(pred, gt, conf, {0: 3, 1: 5}, num_classes=3)
    assert ERRORS == ("correct", "absent", "context", "object", "background")
    # class 1: 3 correct (the void pixel skipped), 2 on its context, 1 on class 2, 1 plain bg
    np.testing.assert_array_equal(counts[0], [3, 0, 2, 1, 1])
    np.testing.assert_array_equal(counts[1], [3, 0, 0, 0, 0])
    np.testing.assert_array_equal(counts[2], [0, 0, 0, 0, 0])
    # class 3 is not in the image: all its pixels are "absent", wherever they lie
    pred3 = np.full_like(gt, 3)
    counts3 = prediction_counts(pred3, gt, conf, {0: 3, 2: 3}, num_classes=3)
    np.testing.assert_array_equal(counts3[2], [0, 11, 0, 0, 0])
    shares = error_shares(counts, ["a", "b", "c"])
    assert set(shares["per_class"]) == {"a", "b"}  # "c" never predicted
    assert shares["per_class"]["a"]["context"] == pytest.approx(2 / 7)
    assert shares["per_class"]["a"]["n_pred"] == 7
    assert shares["mean"]["correct"] == pytest.approx((3 / 7 + 1.0) / 2)
    assert sum(shares["per_class"]["a"][e] for e in ERRORS) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pred"):
        prediction_counts(pred[:2], gt, conf, {}, 3)


def test_ground_truth_labels_make_no_error(tmp_path):
    root = tmp_path / "d"
    synthvoc.generate(synthvoc.make_config("smoke"), root, progress=False)
    tree = voc.open_tree(root)
    ids = tree.read_split("val")

    def gt_maps(drop_void: bool):
        for id_ in ids:
            mask = voc.load_mask(tree.mask_path(id_), tree.num_classes)
            yield id_, np.where(mask == 255, 0, mask) if drop_void else mask

    m = evaluate_context_errors(gt_maps(True), root, "val")
    assert m["n_images"] == len(ids) and m["split"] == "val"
    assert m["mean"]["correct"] == pytest.approx(1.0)

    # every class on its whole context band instead: those pixels count as "context"
    def on_context(id_, mask):
        from PIL import Image

        kind, index = synthvoc.decode_confounders(
            np.asarray(Image.open(root / synthvoc.CONFOUNDER_DIR / f"{id_}.png"))
        )
        out = mask.copy()
        for c in range(1, tree.num_classes + 1):
            if (mask == c).any():
                ctx = synthvoc.class_table(synthvoc.make_config("smoke"))[c - 1].context
                band = (kind == CONTEXT) & (index == synthvoc.draw.CONTEXTS.index(ctx) + 1)
                out[band & (mask == 0)] = c
        return out

    maps = ((i, on_context(i, m_)) for i, m_ in gt_maps(True))
    leak = evaluate_context_errors(maps, root, "val")
    assert leak["mean"]["context"] > 0.0
    assert leak["mean"]["absent"] == 0.0 and leak["mean"]["object"] == 0.0


def test_missing_label_map_is_named(tmp_path):
    with pytest.raises(DataError, match="2026_000001.png"):
        list(png_label_maps(tmp_path, ["2026_000001"]))


def test_figure_has_one_bar_per_class_method_and_stage(tmp_path, monkeypatch):
    import pandas as pd

    from c2am_bench.report import figures

    shares = {"correct": 60.0, "absent": 5.0, "context": 20.0, "object": 10.0, "background": 5.0}
    rows = [{"variant": v, "seed": s, "class": c, "measure": m, "region": r, "share": x}
            for v in ("cam", "c2am") for s in (0, 1) for c in ("a", "b")
            for m in ("pseudo_error", "seg_error") for r, x in shares.items()]  # fmt: skip
    rows.append(
        {
            "variant": "cam",
            "seed": 0,
            "class": "a",
            "measure": "mass",
            "region": "body",
            "share": 50.0,
        }
    )  # fmt: skip  (the CAM mass rows are left out)
    seen = {}

    def capture(fig, out):
        seen["ax"] = fig.axes[0]
        return figures.Path(out)

    monkeypatch.setattr(figures, "save_figure", capture)
    frame = pd.DataFrame(rows)
    out = figures.plot_context_errors(frame, ["cam", "c2am"], {"cam": "CAM"}, tmp_path / "e.png")
    assert out == tmp_path / "e.png"
    labels = [t.get_text() for t in seen["ax"].get_yticklabels()]
    assert labels[:2] == ["a · CAM · masks", "a · CAM · DeepLabV2"] and len(labels) == 8
    # one stacked segment per error and bar, widths as given, each bar summing to 100
    widths = np.array([p.get_width() for p in seen["ax"].patches]).reshape(len(ERRORS), 8)
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)
    np.testing.assert_allclose(widths[:, 0], [shares[e] for e in figures.ERROR_COLOURS])
    assert figures.plot_context_errors(frame[frame["measure"] == "mass"], ["cam"], {}, out) is None
