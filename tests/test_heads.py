"""CAM / CAM+Constant / C2AM heads and the pooling functions: shapes, maths and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from c2am_bench.errors import ConfigError
from c2am_bench.models.heads import C2AMHead, CAMHead, ConstantCAMHead
from c2am_bench.models.pooling import lse_pool, max_pool, mean_pool, pool, topk_pool

B, C, K, H, W, S = 3, 8, 4, 5, 6, 7


@pytest.fixture
def data():
    torch.manual_seed(0)
    feats = torch.randn(B, C, H, W)
    labels = (torch.rand(B, K) > 0.5).float()
    labels[0] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # both label values present for sure
    return feats, labels


def _g(seed: int = 1, k: int = K, s: int = S) -> torch.Tensor:
    return torch.rand(k, s, s, generator=torch.Generator().manual_seed(seed))


def _grads(head, feats, labels):
    """Loss, d loss / d classifier weight and d loss / d feats."""
    feats = feats.clone().requires_grad_(True)
    head.zero_grad()
    loss = head.loss(feats, labels)["loss_cls"]
    loss.backward()
    return loss.detach(), head.classifier.weight.grad.clone(), feats.grad.clone()


def _copy_weights(dst, src):
    dst.classifier.weight.data.copy_(src.classifier.weight.data)
    return dst


# ----------------------------------------------------------------------------- CAM basics


def test_shapes_relu_and_gap_linearity(data):
    feats, _ = data
    head = CAMHead(C, K)
    s, amap, cam = head(feats), head.activation_map(feats), head.cam(feats)
    assert s.shape == (B, K) and amap.shape == (B, K, H, W) and cam.shape == (B, K, H, W)
    assert (amap < 0).any()  # so the ReLU check below is not vacuous
    torch.testing.assert_close(cam, amap.clamp_min(0))
    torch.testing.assert_close(s, amap.mean(dim=(2, 3)), rtol=1e-5, atol=1e-6)


def test_cam_ignores_global_cam_and_constant(data):
    feats, _ = data
    base = CAMHead(C, K)
    for head in (ConstantCAMHead(C, K, constant=3.0), C2AMHead(C, K, _g(), gamma=2.0)):
        _copy_weights(head, base)
        torch.testing.assert_close(head.cam(feats), base.cam(feats))
        torch.testing.assert_close(head(feats), base(feats))


def test_c2am_state_dict_is_cam_compatible():
    head = C2AMHead(C, K, _g())
    assert set(head.state_dict()) == {"classifier.weight"}
    CAMHead(C, K).load_state_dict(head.state_dict())


# ----------------------------------------------------------------------------- C2AM maths


def _npz(tmp_path):
    g_all, g_cls = 0.3 * _g(1), _g(2)
    path = tmp_path / "global_cam.npz"
    np.savez(path, all=g_all.numpy(), by_class=g_cls.numpy())
    return path, {"all": g_all, "class": g_cls}


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("aggregation", ["all", "class"])
def test_code_mean_equals_per_class_logit_scale(tmp_path, data, gamma, aggregation):
    feats, labels = data
    path, arrays = _npz(tmp_path)
    head = C2AMHead(C, K, str(path), aggregation=aggregation, gamma=gamma)
    c = gamma * arrays[aggregation].mean(dim=(1, 2))
    torch.testing.assert_close(head.per_class_constant(), c)

    ref = _copy_weights(CAMHead(C, K), head)
    ref.train_logits = lambda f, s: c * s  # plain BCE-with-logits on c_z * s_z
    for got, want in zip(_grads(head, feats, labels), _grads(ref, feats, labels), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("pooling", ["max", "lse", "topk"])
def test_code_generic_path_matches_materialised_product(data, pooling):
    feats, labels = data
    g = _g()
    head = C2AMHead(C, K, g, gamma=1.5, pooling=pooling, lse_r=2.0, topk=0.3)
    s = head(feats)
    want = pool(1.5 * s[:, :, None, None] * g, pooling, lse_r=2.0, topk=0.3)
    torch.testing.assert_close(head.train_logits(feats, s), want)
    # the mean path, forced through the generic product, agrees with the shortcut
    mean_head = C2AMHead(C, K, g, gamma=1.5)
    want = mean_pool(1.5 * s[:, :, None, None] * g)
    torch.testing.assert_close(mean_head.train_logits(feats, s), want)


def _grad_wrt_logits(head, feats, labels):
    captured = {}

    def hook(module, args, output):
        output.retain_grad()
        captured["s"] = output

    handle = head.register_forward_hook(hook)
    head.loss(feats, labels)["loss_cls"].backward()
    handle.remove()
    return captured["s"].detach(), captured["s"].grad


@pytest.mark.parametrize("kind", ["c2am", "constant"])
def test_gradient_wrt_logits_matches_eq_7_8(data, kind):
    feats, labels = data
    if kind == "c2am":
        head = C2AMHead(C, K, _g(), gamma=2.0)
        c = head.per_class_constant()
    else:
        head = ConstantCAMHead(C, K, constant=0.2)
        c = torch.full((K,), 0.2)
    s, grad = _grad_wrt_logits(head, feats, labels)
    sig = torch.sigmoid(c * s)
    want = (c / (B * K)) * torch.where(labels == 1, sig - 1, sig)
    torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-8)


def test_constant_head_equals_cam_loss_on_scaled_logits(data):
    feats, labels = data
    head = ConstantCAMHead(C, K, constant=0.7)
    base = _copy_weights(CAMHead(C, K), head)
    want = F.binary_cross_entropy_with_logits(0.7 * base(feats), labels)
    torch.testing.assert_close(head.loss(feats, labels)["loss_cls"], want)
    assert not torch.allclose(want, base.loss(feats, labels)["loss_cls"])


def test_paper_formulation_is_bce_on_pooled_probabilities(data):
    feats, labels = data
    g = _g()
    head = C2AMHead(C, K, g, gamma=1.0, formulation="paper")
    s = head(feats)
    q = (torch.sigmoid(s)[:, :, None, None] * g).mean(dim=(2, 3)).clamp(1e-6, 1 - 1e-6)
    want = F.binary_cross_entropy(q, labels)
    torch.testing.assert_close(head.loss(feats, labels)["loss_cls"], want)
    torch.testing.assert_close(head.train_logits(feats, s), torch.logit(q))


def test_spatial_mean_with_constant_g_and_no_resize_equals_code(data):
    feats, labels = data
    g = torch.full((K, H, H), 0.4)
    square = feats[..., :H]  # h = w = S, so no resize happens
    spatial = C2AMHead(C, K, g, gamma=2.0, formulation="spatial")
    code = _copy_weights(C2AMHead(C, K, g, gamma=2.0), spatial)
    got, want = spatial.loss(square, labels)["loss_cls"], code.loss(square, labels)["loss_cls"]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    want = F.binary_cross_entropy_with_logits(2.0 * 0.4 * code(square), labels)
    torch.testing.assert_close(code.loss(square, labels)["loss_cls"], want)


def test_spatial_resizes_the_activation_map_bilinearly(data):
    feats, _ = data
    g = _g()
    head = C2AMHead(C, K, g, gamma=1.5, pooling="max", formulation="spatial")
    amap = head.activation_map(feats)
    amap = F.interpolate(amap, size=(S, S), mode="bilinear", align_corners=False)
    torch.testing.assert_close(head.train_logits(feats, head(feats)), max_pool(1.5 * amap * g))


def test_only_spatial_formulation_sees_the_layout_of_g(data):
    feats, labels = data
    g = _g()
    perm = torch.randperm(S * S, generator=torch.Generator().manual_seed(3))
    g_perm = g.flatten(1)[:, perm].reshape(K, S, S)

    def loss(gg, **kw):
        torch.manual_seed(5)  # same classifier init for both G
        return C2AMHead(C, K, gg, **kw).loss(feats, labels)["loss_cls"]

    kw = dict(pooling="max", formulation="spatial")
    assert not torch.allclose(loss(g, **kw), loss(g_perm, **kw))
    for kw in (dict(), dict(pooling="max"), dict(pooling="lse", lse_r=3.0)):
        torch.testing.assert_close(loss(g, **kw), loss(g_perm, **kw))


# ----------------------------------------------------------------------------- pooling


def test_pooling_properties():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    assert (lse_pool(x, 1.0) >= max_pool(x)).all()
    assert (lse_pool(x, 5.0) >= max_pool(x)).all()
    torch.testing.assert_close(lse_pool(x, 1e3), max_pool(x), rtol=0, atol=1e-2)
    assert not torch.allclose(lse_pool(x, 1.0), max_pool(x), atol=1e-2)
    torch.testing.assert_close(topk_pool(x, 1.0), mean_pool(x))
    torch.testing.assert_close(topk_pool(x, 1e-6), max_pool(x))
    # top 25% of 20 pixels = 5 largest
    torch.testing.assert_close(topk_pool(x, 0.25), x.flatten(-2).sort(-1).values[..., -5:].mean(-1))
    # ceil: 22% of 20 pixels = 4.4 -> 5 values; 7% of 100 is 7 values despite 0.07 * 100 > 7
    torch.testing.assert_close(topk_pool(x, 0.22), topk_pool(x, 0.25))
    y = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    torch.testing.assert_close(topk_pool(y, 0.07), y.flatten(-2).sort(-1).values[..., -7:].mean(-1))
    torch.testing.assert_close(max_pool(x), x.amax(dim=(-2, -1)))
    big = torch.full((1, 1, 2, 2), 1e4, dtype=torch.float32)
    assert torch.isfinite(lse_pool(big, 1.0)).all()  # stable: no exp overflow
    torch.testing.assert_close(lse_pool(big, 1.0), torch.tensor([[1e4 + math.log(4)]]))


def test_pool_rejects_unknown_name():
    with pytest.raises(ConfigError, match="pooling.*mean, max, lse, topk.*'median'"):
        pool(torch.zeros(1, 1, 2, 2), "median")


# ----------------------------------------------------------------------------- validation


def _bad_npz(tmp_path):
    path = tmp_path / "only_all.npz"
    np.savez(path, all=_g().numpy())
    return path


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(gamma=0), ["gamma"]),
        (dict(gamma=-1), ["gamma"]),
        (dict(gamma=float("nan")), ["gamma"]),
        (dict(global_cam=_g(k=K + 1)), ["global_cam", "num_classes"]),
        (dict(global_cam=_g()[0]), ["global_cam", "3 dims"]),
        (
            dict(global_cam=_g().index_fill_(0, torch.tensor(0), float("nan"))),
            ["global_cam", "NaN"],
        ),
        (dict(global_cam=-_g()), ["global_cam", "negative"]),
        (dict(global_cam="missing.npz"), ["global_cam", "missing.npz"]),
        (dict(global_cam="@npz", aggregation="class"), ["global_cam", "only_all.npz", "by_class"]),
        (dict(global_cam="@notnpz"), ["global_cam", "not_npz.npz"]),
        (dict(pooling="median"), ["pooling", "median"]),
        (dict(pooling="lse", lse_r=0), ["lse_r"]),
        (dict(pooling="topk", topk=1.5), ["topk"]),
        (dict(formulation="both"), ["formulation", "both"]),
        (dict(aggregation="sum"), ["aggregation", "sum"]),
        (dict(num_classes=0), ["num_classes"]),
    ],
)
def test_c2am_validation(tmp_path, kwargs, words):
    kwargs = {"in_channels": C, "num_classes": K, "global_cam": _g(), **kwargs}
    (tmp_path / "not_npz.npz").write_text("hello")
    files = {
        "@npz": _bad_npz(tmp_path),
        "@notnpz": tmp_path / "not_npz.npz",
        "missing.npz": tmp_path / "missing.npz",
    }
    if isinstance(kwargs["global_cam"], str):
        kwargs["global_cam"] = files[kwargs["global_cam"]]
    with pytest.raises(ConfigError) as info:
        C2AMHead(**kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("constant", [0, -0.2, "a"])
def test_constant_validation(constant):
    with pytest.raises(ConfigError, match="constant"):
        ConstantCAMHead(C, K, constant=constant)


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "cfg",
    [
        dict(type="CAMHead"),
        dict(type="ConstantCAMHead", constant=0.2),
        dict(type="C2AMHead", global_cam=_g(k=3).numpy()),
    ],
)
def test_heads_build_from_registry(cfg, data):
    feats, _ = data
    head = MODELS.build(dict(in_channels=C, num_classes=3, **cfg))
    assert type(head).__name__ == cfg["type"]
    assert head(feats).shape == (B, 3)
