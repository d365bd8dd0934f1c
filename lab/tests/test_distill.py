"""Distilling the flip ensemble (lab.distill): the torch ensemble is the engine's, the loss trains."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from padm_pansharpening.engine.hfreqdiff.method import flip_ensemble
from padm_pansharpening.engine.hfreqdiff.runtime import torch_denoiser_of

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from padm_pansharpening.tests.hfreqdiff_helpers import net  # noqa: E402,F401 - fixture


def _batch(rng: np.random.Generator, bands: int = 4, size: int = 32) -> dict:
    return {"x0": torch.from_numpy(rng.standard_normal((2, bands, size, size)).astype(np.float32)),
            "band": torch.from_numpy(rng.standard_normal((2, bands, 3, size, size)).astype(np.float32)),
            "pan": torch.from_numpy(rng.standard_normal((2, 2, size, size)).astype(np.float32)),
            "desc": torch.from_numpy(np.tile(np.linspace(0.1, 0.9, bands, dtype=np.float32), (2, 1))),
            "band_stats": None}


def test_torch_flip_ensemble_is_the_engines(net):
    from lab.distill import flip_ensemble_x0

    b = _batch(np.random.default_rng(0))
    x_t, t = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 4, 32, 32)).astype(np.float32)), torch.ones(2)
    with torch.no_grad():
        ours = flip_ensemble_x0(net, x_t, t, b).numpy()
    cond = {"band": b["band"].numpy(), "pan": b["pan"].numpy(), "desc": b["desc"].numpy(), "band_stats": None}
    engine = flip_ensemble(torch_denoiser_of(net))(x_t.numpy(), 1.0, cond)
    np.testing.assert_allclose(ours, engine, rtol=1e-5, atol=1e-5)


def test_distill_loss_pulls_the_student_to_the_teachers_ensemble(net):
    from lab.distill import DistillConfig, distill_loss

    with pytest.raises(ValueError, match="unknown distill keys"):
        DistillConfig.from_dict({"wieght": 1.0})
    cfg = DistillConfig(weight=1.0, truth_weight=0.0, t1_share=1.0)
    teacher, student = copy.deepcopy(net).eval(), copy.deepcopy(net).train()
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    b = _batch(np.random.default_rng(2))
    torch.manual_seed(0)
    first = None
    for _ in range(30):
        torch.manual_seed(0)  # the same noise every step: the gap to the ensemble must shrink
        loss, to_teacher, _ = distill_loss(student, teacher, b, cfg)
        first = first if first is not None else to_teacher.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(0)
    assert distill_loss(student, teacher, b, cfg)[1].item() < 0.7 * first
