"""The differentiable D_s that fine-tuning and training learn from (engine.hfreqdiff.objective) is the
reference toolbox's D_s (engine.metrics.d_s)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from padm_pansharpening.engine.hfreqdiff.objective import block_uiqi  # noqa: E402


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

