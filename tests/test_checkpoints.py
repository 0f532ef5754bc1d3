"""Checkpoint safety: user files load weights-only; our own mmengine runs resume."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from c2am_bench.checkpoints import load_into, load_state_dict, trust_work_dir
from c2am_bench.errors import CheckpointError


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_plain_and_wrapped_state_dicts_load(tmp_path):
    net = nn.Linear(3, 2)
    torch.save(net.state_dict(), tmp_path / "plain.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()},
                "meta": {"epoch": 3}}, tmp_path / "wrapped.pth")  # fmt: skip
    for name in ("plain.pth", "wrapped.pth"):
        state = load_state_dict(tmp_path / name)
        assert set(state) == {"weight", "bias"}
        assert torch.equal(state["weight"], net.weight)


def test_checkpoint_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"weight": torch.zeros(1), "x": _Evil()}, f)
    with pytest.raises(CheckpointError, match="evil.pth: refused to load"):
        load_state_dict(path)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth: checkpoint not found"):
        load_state_dict(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_state_dict(tmp_path / "junk.pth")


def test_mismatched_checkpoint_is_one_clear_error(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "small.pth")
    with pytest.raises(CheckpointError, match="small.pth: does not match Linear"):
        load_into(nn.Linear(4, 2), tmp_path / "small.pth")


@pytest.mark.slow
def test_mmengine_runner_resumes_its_own_checkpoint(tmp_path):
    """Train 2 of 3 epochs, then resume from epoch_2.pth with weights_only=True still on."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)

        def forward(self, inputs, labels=None, mode="tensor"):
            out = self.lin(inputs)  # default_collate stacked the batch: (B, 2)
            if mode == "loss":
                return {"loss": ((out.squeeze(-1) - labels) ** 2).mean()}
            return out

    data = [dict(inputs=torch.tensor([float(i), 1.0]), labels=torch.tensor(float(i % 3)))
            for i in range(8)]  # fmt: skip

    def make(max_epochs, resume):
        return Runner(
            model=Toy(),
            work_dir=str(tmp_path),
            train_dataloader=dict(dataset=data, sampler=dict(type="DefaultSampler", shuffle=False),
                                  batch_size=4, collate_fn=dict(type="default_collate")),
            optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
            randomness=dict(seed=0),
            resume=resume,
            experiment_name=f"toy{max_epochs}{resume}",
        )  # fmt: skip

    make(2, False).train()
    ckpt = tmp_path / "epoch_2.pth"
    assert ckpt.is_file()
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(ckpt, map_location="cpu")  # what breaks mmengine 0.10.7's resume
    trust_work_dir(tmp_path)
    runner = make(3, True)
    runner.train()
    assert runner.epoch == 3 and (tmp_path / "epoch_3.pth").is_file()
    # Outside the trusted dir, mmengine's loader stays weights-only; user files go through
    # load_state_dict, which refuses the pickled HistoryBuffer.
    from mmengine.runner.checkpoint import CheckpointLoader

    elsewhere = tmp_path.parent / f"{tmp_path.name}-copy.pth"
    elsewhere.write_bytes(ckpt.read_bytes())
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        CheckpointLoader.load_checkpoint(str(elsewhere), map_location="cpu")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_state_dict(elsewhere)
