"""Small HFreqDiff fixtures shared by the runtime's tests and the lab's: a perturbed random network,
its ONNX export, and a synthetic PAN/MS pair."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def net():
    """A small random network with all weights perturbed (so no branch is trivially zero)."""
    import torch

    from padm_pansharpening.engine.hfreqdiff.network import build_network

    torch.manual_seed(0)
    n = build_network({"channels": [8, 16, 16], "cond_channels": [8, 8, 8], "emb": 16}).eval()
    with torch.no_grad():
        for p in n.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return n


@pytest.fixture(scope="module")
def onnx_path(net, tmp_path_factory):
    from padm_pansharpening.engine.hfreqdiff.export import export_onnx, model_metadata

    return export_onnx(net, tmp_path_factory.mktemp("hfd") / "net.onnx", model_metadata({"default_steps": "3"}))


def synthetic_scene(ratio: int, h_lr: int, w_lr: int, bands: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random MS and a PAN made of its upsampled mean plus detail (DN-like values)."""
    from scipy.ndimage import gaussian_filter, zoom

    rng = np.random.default_rng(seed)
    pan = 500 + 200 * gaussian_filter(rng.standard_normal((h_lr * ratio, w_lr * ratio)), 1.5)
    base = zoom(pan, 1 / ratio, order=1)[:h_lr, :w_lr]
    ms = np.stack([base * (0.6 + 0.1 * b) + 20 * rng.standard_normal((h_lr, w_lr)) for b in range(bands)], 2)
    return pan, np.clip(ms, 1, None)
