"""HFreqDiff stage 2: the full-resolution training term (differentiable D_s, consistency, spectral)
and a training run that starts from a stage-1 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from padm_pansharpening.engine.hfreqdiff.full_resolution import (  # noqa: E402
    FullResolutionConfig,
    FullResolutionTerm,
    block_uiqi,
)

SMALL_NET = {"channels": [8, 16, 16], "cond_channels": [8, 8, 8], "emb": 16}


def _t(x: np.ndarray):
    return torch.tensor(x, dtype=torch.float64)


def test_block_uiqi_hand_values():
    rng = np.random.default_rng(0)
    a = 100 + rng.standard_normal((1, 1, 64, 64))
    assert block_uiqi(_t(a), _t(a)).item() == pytest.approx(1.0, abs=1e-9)
    # b = 2a: correlation 1, contrast 2*1*2/(1+4) = 0.8, luminance 2*1*2/(1+4) = 0.8 -> Q = 0.64
    assert block_uiqi(_t(a), _t(2 * a)).item() == pytest.approx(0.64, abs=1e-9)
    # b = 2*mean - a: correlation -1, equal contrast and mean -> Q = -1
    assert block_uiqi(_t(a), _t(200 - a)).item() == pytest.approx(-1.0, rel=1e-5)


def test_differentiable_d_s_equals_the_metric():
    """mean_b |Q(F_b, PAN) - Q(MS_up_b, PAN_LR_up)| through block_uiqi is engine.metrics.d_s."""
    from scipy.ndimage import gaussian_filter

    from padm_pansharpening.engine.metrics import d_s, imresize_bicubic, upsample_ms

    rng = np.random.default_rng(1)
    r = 4
    pan = 300 + 50 * gaussian_filter(rng.standard_normal((128, 128)), 2)
    ms = np.stack([imresize_bicubic(pan, 1 / r) * (0.5 + 0.2 * b) + 3 * rng.standard_normal((32, 32))
                   for b in range(3)], 2)
    ms_up = upsample_ms(ms, r)
    fused = ms_up + 0.3 * (pan - gaussian_filter(pan, 2))[:, :, None] + rng.standard_normal(ms_up.shape)
    pan_low = upsample_ms(imresize_bicubic(pan, 1 / r), r)
    chw = lambda x: _t(np.moveaxis(x, 2, 0)[None])  # noqa: E731
    ours = (block_uiqi(chw(fused), _t(pan)[None, None]) - block_uiqi(chw(ms_up), _t(pan_low)[None, None])).abs().mean()
    assert ours.item() == pytest.approx(d_s(fused, ms_up, pan, r), rel=1e-9, abs=1e-12)


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
    from padm_pansharpening.engine.hfreqdiff.method import load_torch_model
    from padm_pansharpening.engine.hfreqdiff.network import build_network
    from padm_pansharpening.engine.hfreqdiff.train import train

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
