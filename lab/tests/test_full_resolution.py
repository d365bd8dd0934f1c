"""HFreqDiff stage 2: the full-resolution training term (differentiable D_s, consistency, spectral)
and a training run that starts from a stage-1 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from lab.full_resolution import FullResolutionConfig, FullResolutionTerm  # noqa: E402

SMALL_NET = {"channels": [8, 16, 16], "cond_channels": [8, 8, 8], "emb": 16}


def _t(x: np.ndarray):
    return torch.tensor(x, dtype=torch.float64)


def test_held_out_scenes_are_refused():
    with pytest.raises(ValueError, match="held-out"):
        FullResolutionTerm(FullResolutionConfig(["ge1_grip_pnn"]), {"ge1_grip_pnn"}, seed=0)


def test_full_resolution_term_has_finite_losses_and_gradients(shared_data):
    from padm_pansharpening.engine.hfreqdiff.network import build_network

    term = FullResolutionTerm(FullResolutionConfig(["wv2_rio_rr_geotiff"], patch=64), set(), seed=0)
    net = build_network(SMALL_NET)
    out = term.losses(net)
    assert set(out) == {"consistency", "spectral", "spatial", "total"}
    assert all(torch.isfinite(v) for v in out.values()) and 0 <= out["spatial"].item() <= 2
    out["total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_stage2_training_starts_from_the_stage1_model(shared_data, tmp_path):
    """A few stage-2 steps from a saved model, adding the band statistics: the run loads its weights,
    trains with the full-resolution term, and writes a model whose metadata and card record the runs
    it continues."""
    from padm_pansharpening.engine.hfreqdiff.export import model_metadata, save_torch
    from padm_pansharpening.engine.hfreqdiff.runtime import load_torch_model
    from padm_pansharpening.engine.hfreqdiff.network import build_network
    from lab.train import train

    torch.manual_seed(0)
    stage1 = save_torch(build_network(SMALL_NET), tmp_path / "stage1.pt",
                        model_metadata({"training": {"steps_trained": 7, "train_minutes": 0.1,
                                                     "stage1": {"steps_trained": 3, "train_minutes": 0.05}}}))
    scene = "wv2_rio_rr_geotiff"
    cfg = {"train_scenes": [scene], "val_scenes": ["ge1_grip_pnn"], "baselines": ["exp"],
           "net": {**SMALL_NET, "band_stats": True},
           "patch": 32, "batch": 2, "lr": 1e-3, "lr_min": 1e-5, "warmup_steps": 1, "weight_decay": 0.0,
           "grad_clip": 1.0, "ema": 0.9, "seed": 0, "threads": 1, "max_minutes": 5, "max_steps": 4,
           "log_every": 2, "checkpoint_minutes": 10, "val_minutes": 60, "val_steps": 1, "val_pad_lr": 8,
           "final_steps": [1], "default_steps": 1, "init_from": str(stage1),
           "full_resolution": {"scenes": [scene], "patch": 64, "batch": 1},
           "checkpoint": str(tmp_path / "ck.pt"), "out_pt": str(tmp_path / "m.pt"),
           "out_onnx": str(tmp_path / "m.onnx"), "report": str(tmp_path / "r.json"),
           "model_card": str(tmp_path / "card.md")}
    report = train(cfg, fresh=True)
    assert report["steps_trained"] == 4 and report["init_from"] == str(stage1)
    assert all("fr_spatial" in h for h in report["loss_history"])
    net, meta = load_torch_model(Path(cfg["out_pt"]))
    trained = json.loads(meta["training"])
    assert trained["stage1"]["steps_trained"] == 7 and trained["held_out"] == ["ge1_grip_pnn"]
    start = dict(load_torch_model(stage1)[0].named_parameters())  # trained on from stage 1: weights moved
    assert any(not torch.equal(p, start[k]) for k, p in net.named_parameters())
    assert net.uses_band_stats
    card = (tmp_path / "card.md").read_text()
    assert "Starts from" in card and "3 steps, 0.05 min" in card and "scene statistics" in card
