"""CAM maths: strided sizes, normalisation, multi-scale/flip fusion, seeds and the Global CAM."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from c2am_bench.cams import (
    GlobalCAMAccumulator,
    load_global_cam,
    load_seed,
    make_seed,
    max_normalise,
    multiscale_flip_cams,
    multiscale_flip_cams_batched,
    save_seed,
    strided_size,
    strided_up_size,
)
from c2am_bench.errors import DataError

# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("size", [(97, 130), (1, 1), (64, 48), (333, 500)])
@pytest.mark.parametrize("stride", [4, 16])
def test_strided_sizes(size, stride):
    h, w = size
    assert strided_size(size, stride) == (math.ceil(h / stride), math.ceil(w / stride))
    assert strided_up_size(size, stride) == (
        stride * math.ceil(h / stride),
        stride * math.ceil(w / stride),
    )


def test_strided_sizes_odd_example():
    assert strided_size((97, 130), 4) == (25, 33)
    assert strided_size((97, 130), 16) == (7, 9)
    assert strided_up_size((97, 130), 16) == (112, 144)


# --------------------------------------------------------------------------- max_normalise


def test_max_normalise_range_and_zero_class():
    g = torch.Generator().manual_seed(0)
    cam = torch.rand(3, 5, 7, generator=g) * torch.tensor([1.0, 40.0, 0.0])[:, None, None]
    out = max_normalise(cam)
    assert out.shape == cam.shape
    assert torch.all(out >= 0) and torch.all(out < 1)
    peaks = out.amax(dim=(1, 2))
    maxes = cam.amax(dim=(1, 2))
    assert torch.allclose(peaks[:2], maxes[:2] / (maxes[:2] + 1e-5))
    assert torch.all(out[2] == 0)
    # numpy gives the same numbers
    np.testing.assert_allclose(max_normalise(cam.numpy()), out.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- multi-scale + flip


class _PointwiseCam(torch.nn.Module):
    """ReLU(1x1 conv): commutes with horizontal flips, so flip-TTA doubles it."""

    def __init__(self, k: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, k, 1)

    def forward(self, x):
        return F.relu(self.conv(x))


def test_multiscale_flip_equals_twice_cam_of_flip_equivariant_fn():
    fn = _PointwiseCam()
    image = torch.randn(3, 13, 18, generator=torch.Generator().manual_seed(1))
    scales = (1.0, 0.5, 1.5)
    cams = multiscale_flip_cams(fn, image, scales)
    assert len(cams) == 3
    for s, cam in zip(scales, cams, strict=True):
        size = (int(np.round(13 * s)), int(np.round(18 * s)))
        x = image[None] if s == 1.0 else F.interpolate(image[None], size, mode="bicubic")
        assert cam.shape == (4, *size)
        torch.testing.assert_close(cam, 2 * fn(x)[0], rtol=1e-5, atol=1e-5)
    assert not cams[0].requires_grad


def test_multiscale_flip_uses_flipped_copy():
    # a cam_fn that is NOT flip-equivariant: the flipped branch must be flipped back
    def fn(x):
        ramp = torch.arange(x.shape[-1], dtype=x.dtype)
        return (x[:, :1] * 0 + ramp).expand(x.shape[0], 2, -1, -1).clone()

    cam = multiscale_flip_cams(fn, torch.zeros(3, 2, 5), (1.0,))[0]
    ramp = torch.arange(5.0)
    torch.testing.assert_close(cam[0, 0], ramp + ramp.flip(0))


def test_batched_equals_unbatched():
    fn = _PointwiseCam()
    g = torch.Generator().manual_seed(2)
    images = [torch.randn(3, 11, 9, generator=g) for _ in range(3)]
    scales = (1.0, 0.5, 2.0)
    batched = multiscale_flip_cams_batched(fn, images, scales)
    assert len(batched) == 3
    for image, got in zip(images, batched, strict=True):
        ref = multiscale_flip_cams(fn, image, scales)
        for a, b in zip(got, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_batched_rejects_mixed_sizes():
    with pytest.raises(ValueError, match="same shape"):
        multiscale_flip_cams_batched(_PointwiseCam(), [torch.zeros(3, 4, 4), torch.zeros(3, 5, 4)],
                                     (1.0,))  # fmt: skip


# --------------------------------------------------------------------------- make_seed


def _random_cams(k=5, size=(97, 130), scales=(1.0, 0.5, 1.5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.rand(k, math.ceil(round(size[0] * s) / 16), math.ceil(round(size[1] * s) / 16),
                   generator=g)
        for s in scales
    ]  # fmt: skip


def test_make_seed_shapes_and_key_order():
    cams = _random_cams()
    keys = np.array([3, 0], dtype=np.int64)
    seed = make_seed(cams, (97, 130), keys)
    assert seed["keys"].dtype == np.int64 and seed["keys"].tolist() == [3, 0]
    assert seed["cam"].shape == (2, 25, 33) and seed["cam"].dtype == np.float32
    assert seed["high_res"].shape == (2, 97, 130) and seed["high_res"].dtype == np.float32
    for arr in (seed["cam"], seed["high_res"]):
        assert arr.min() >= 0 and arr.max() < 1
    # rows follow keys: the seed for [0] alone is row 1 of the seed for [3, 0]
    only0 = make_seed(cams, (97, 130), np.array([0]))
    np.testing.assert_allclose(only0["high_res"][0], seed["high_res"][1], rtol=1e-6)
    assert not np.allclose(seed["high_res"][0], seed["high_res"][1])


def test_make_seed_empty_keys():
    seed = make_seed(_random_cams(), (97, 130), np.zeros(0, np.int64))
    assert seed["keys"].shape == (0,)
    assert seed["cam"].shape == (0, 25, 33)
    assert seed["high_res"].shape == (0, 97, 130)


def test_make_seed_constant_cam_is_one():
    cams = [torch.full((2, 7, 9), 3.0)]
    seed = make_seed(cams, (97, 130), np.array([1]))
    np.testing.assert_allclose(seed["cam"], 1.0, atol=1e-5)
    np.testing.assert_allclose(seed["high_res"], 1.0, atol=1e-5)


def _bilinear_ref(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Explicit-loop bilinear resize with align_corners=False (half-pixel centres, edge clamp)."""
    in_h, in_w = src.shape
    out = np.zeros((out_h, out_w), np.float64)
    for i in range(out_h):
        y = max((i + 0.5) * in_h / out_h - 0.5, 0.0)
        y0 = min(int(math.floor(y)), in_h - 1)
        y1 = min(y0 + 1, in_h - 1)
        dy = y - y0
        for j in range(out_w):
            x = max((j + 0.5) * in_w / out_w - 0.5, 0.0)
            x0 = min(int(math.floor(x)), in_w - 1)
            x1 = min(x0 + 1, in_w - 1)
            dx = x - x0
            out[i, j] = ((1 - dy) * ((1 - dx) * src[y0, x0] + dx * src[y0, x1])
                         + dy * ((1 - dx) * src[y1, x0] + dx * src[y1, x1]))  # fmt: skip
    return out


def test_make_seed_matches_loop_reference():
    size = (9, 14)
    g = torch.Generator().manual_seed(3)
    cams = [torch.rand(3, 1 + s, 2 + s, generator=g) for s in (1, 2)]
    keys = np.array([2, 0])
    seed = make_seed(cams, size, keys)

    def fused(out_h, out_w, crop=None):
        maps = []
        for k in keys:
            total = sum(_bilinear_ref(c[k].numpy().astype(np.float64), out_h, out_w) for c in cams)
            if crop:
                total = total[: crop[0], : crop[1]]
            maps.append(total / (total.max() + 1e-5))
        return np.stack(maps)

    np.testing.assert_allclose(seed["cam"], fused(3, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seed["high_res"], fused(16, 16, crop=size), rtol=1e-5, atol=1e-6)


def test_make_seed_rejects_bad_keys():
    with pytest.raises(ValueError, match="keys"):
        make_seed(_random_cams(k=3), (97, 130), np.array([3]))


# --------------------------------------------------------------------------- seed files


def test_save_load_seed_round_trip(tmp_path):
    seed = make_seed(_random_cams(), (97, 130), np.array([4, 1]))
    path = tmp_path / "sub" / "2007_000032.npz"
    save_seed(path, seed)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    loaded = load_seed(path)
    assert loaded["keys"].tolist() == [4, 1]
    for key in ("cam", "high_res"):
        assert loaded[key].dtype == np.float32
        np.testing.assert_allclose(loaded[key], seed[key], atol=5e-4, rtol=0)
    with np.load(path) as raw:
        assert raw["high_res"].dtype == np.float16
    save_seed(path, seed, dtype="float32", compress=True)
    np.testing.assert_array_equal(load_seed(path)["high_res"], seed["high_res"])


def test_load_seed_empty_keys(tmp_path):
    seed = make_seed(_random_cams(), (97, 130), np.zeros(0, np.int64))
    save_seed(tmp_path / "e.npz", seed)
    loaded = load_seed(tmp_path / "e.npz")
    assert loaded["high_res"].shape == (0, 97, 130)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("garbage", "not a readable"),
        ("no_keys", "missing arrays"),
        ("nan", "NaN"),
        ("shape", "expected"),
    ],
)
def test_load_seed_errors_name_the_file(tmp_path, case, message):
    path = tmp_path / f"bad_{case}.npz"
    good = {"keys": np.array([0, 2]), "cam": np.zeros((2, 3, 4)), "high_res": np.zeros((2, 9, 14))}
    if case == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif case == "no_keys":
        np.savez(path, cam=good["cam"], high_res=good["high_res"])
    elif case == "nan":
        good["high_res"][1, 2, 3] = np.nan
        np.savez(path, **good)
    elif case == "shape":
        good["cam"] = np.zeros((3, 3, 4))
        np.savez(path, **good)
    with pytest.raises(DataError, match=message) as info:
        load_seed(path)
    assert path.name in str(info.value)


# --------------------------------------------------------------------------- Global CAM


def _one_scale(maps: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(maps.astype(np.float32))]


def test_global_cam_aggregations_by_hand(tmp_path, caplog):
    s = 4
    rng = np.random.default_rng(0)
    # three images of K=3 CAMs already at S x S (so resizing is the identity)
    maps = [rng.random((3, s, s)) * 5 for _ in range(3)]
    maps[1][2] = 0.0  # labelled, but its CAM is all zero -> not counted for class 2
    labels = [np.array([1, 0, 1]), np.array([1, 0, 1]), np.array([0, 0, 1])]
    acc = GlobalCAMAccumulator(3, size=s, class_names=["cat", "dog", "cow"])
    for m, y in zip(maps, labels, strict=True):
        acc.add(_one_scale(m), y)

    expected_sum = np.zeros((3, s, s))
    for m, y in zip(maps, labels, strict=True):
        for z in range(3):
            if y[z]:
                expected_sum[z] += m[z] / (m[z].max() + 1e-5)
    expected_counts = np.array([2, 0, 2])  # class 1 never labelled; class 2 once all zero

    with caplog.at_level("WARNING", logger="c2am_bench.cams"):
        res = acc.result()
    assert "dog" in caplog.text and "cat" not in caplog.text
    assert res["n_images"] == 3
    np.testing.assert_array_equal(res["counts"], expected_counts)
    np.testing.assert_allclose(res["all"], expected_sum / 3, rtol=1e-6)
    np.testing.assert_allclose(res["by_class"][[0, 2]],
                               expected_sum[[0, 2]] / expected_counts[[0, 2], None, None],
                               rtol=1e-6)  # fmt: skip
    assert np.all(res["all"][1] == 0) and np.all(res["by_class"][1] == 0)
    # G^all_z = (N_z / N) G^cls_z
    np.testing.assert_allclose(res["all"], res["by_class"] * (expected_counts / 3)[:, None, None],
                               rtol=1e-6)  # fmt: skip
    # absent classes contribute zeros: class 0's unlabelled image 3 would otherwise add its map
    assert res["all"][0].max() <= 2 / 3 + 1e-6
    np.testing.assert_allclose(res["means_all"], res["all"].mean(axis=(1, 2)), rtol=1e-6)

    path = tmp_path / "global_cam.npz"
    acc.save(path)
    loaded = load_global_cam(path)
    np.testing.assert_array_equal(loaded["all"], res["all"])
    np.testing.assert_array_equal(loaded["by_class"], res["by_class"])
    np.testing.assert_array_equal(loaded["counts"], expected_counts)
    assert loaded["n_images"] == 3
    summary = json.loads((tmp_path / "global_cam.json").read_text())
    assert summary["counts"] == [2, 0, 2] and summary["n_images"] == 3
    for name, z in (("cat", 0), ("dog", 1), ("cow", 2)):
        assert summary["means_all"][name] == pytest.approx(loaded["all"][z].mean(), rel=1e-6)
        assert summary["means_by_class"][name] == pytest.approx(loaded["by_class"][z].mean(),
                                                                rel=1e-6)  # fmt: skip


def test_global_cam_resizes_and_sums_scales():
    g = torch.Generator().manual_seed(5)
    cams = [torch.rand(2, 3, 5, generator=g), torch.rand(2, 6, 10, generator=g)]
    acc = GlobalCAMAccumulator(2, size=8)
    acc.add(cams, torch.tensor([0, 1]))
    total = sum(_bilinear_ref(c[1].numpy().astype(np.float64), 8, 8) for c in cams)
    np.testing.assert_allclose(acc.result()["all"][1], total / (total.max() + 1e-5), rtol=1e-5)
    assert acc.counts.tolist() == [0, 1]


@pytest.mark.parametrize("case", ["negative", "nan", "missing"])
def test_load_global_cam_errors(tmp_path, case):
    path = tmp_path / f"g_{case}.npz"
    arrays = {"all": np.zeros((2, 4, 4), np.float32), "by_class": np.zeros((2, 4, 4), np.float32),
              "counts": np.array([1, 0]), "n_images": np.array(2)}  # fmt: skip
    if case == "negative":
        arrays["all"][0, 0, 0] = -1
    elif case == "nan":
        arrays["by_class"][1, 1, 1] = np.nan
    else:
        del arrays["counts"]
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=path.name):
        load_global_cam(path)
