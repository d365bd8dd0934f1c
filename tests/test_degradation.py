"""Degradation operators: toolbox test vectors (GeoEye-1) and hand cases."""

from pathlib import Path

import numpy as np
import pytest

from padm_pansharpening.engine import degradation as D
from padm_pansharpening.engine.sensors import get_sensor

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REF = SHARED / "reference" / "ge1_toolbox"
SCENE = SHARED / "data" / "ge1_grip_pnn" / "imgGE1.mat"


# ----------------------------------------------------------------------------- hand cases

@pytest.mark.parametrize("gnyq,ratio", [(0.23, 4), (0.3, 4), (0.16, 4), (0.35, 2), (0.3, 3)])
def test_mtf_kernel_shape_sum_symmetry(gnyq, ratio):
    k = D.mtf_kernel(gnyq, ratio)
    assert k.shape == (41, 41)
    assert abs(k.sum() - 1.0) < 2e-3  # the toolbox filter's DC gain is ~0.998, not exactly 1
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, :], atol=1e-15)
    np.testing.assert_allclose(k, k[:, ::-1], atol=1e-15)
    assert np.unravel_index(np.argmax(k), k.shape) == (20, 20)


@pytest.mark.parametrize("gnyq,ratio", [(0.23, 4), (0.3, 4), (0.15, 4), (0.35, 2), (0.3, 3)])
def test_mtf_kernel_gain_at_nyquist(gnyq, ratio):
    # Frequency response at the low-resolution Nyquist frequency 1/(2 ratio) cycles/pixel. The
    # toolbox's design puts the Gaussian's value gnyq at N-1 samples: gnyq ** ((N/(N-1))^2).
    k = D.mtf_kernel(gnyq, ratio)
    x = np.arange(41) - 20
    resp = np.sum(k.sum(axis=0) * np.cos(2 * np.pi * x / (2 * ratio)))
    assert abs(resp - gnyq ** ((41 / 40) ** 2)) < 5e-3
    assert abs(resp - gnyq) < 0.02


def test_mtf_kernel_narrower_for_lower_gain():
    # A lower Nyquist gain means more blur: a lower peak.
    assert D.mtf_kernel(0.15, 4)[20, 20] < D.mtf_kernel(0.35, 4)[20, 20]


def test_mtf_filter_constant_and_shapes():
    img = np.full((50, 60, 3), 100.0)
    out = D.mtf_filter(img, [0.2, 0.3, 0.4], 4)
    assert out.shape == img.shape
    for b, g in enumerate([0.2, 0.3, 0.4]):
        np.testing.assert_allclose(out[:, :, b], 100.0 * D.mtf_kernel(g, 4).sum(), rtol=1e-12)
    single = D.mtf_filter(img[:, :, 0], 0.3, 4)
    assert single.shape == (50, 60)
    with pytest.raises(ValueError):
        D.mtf_filter(img, [0.3, 0.3], 4)


def test_mtf_filter_matches_direct_correlation():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (64, 48))
    k = D.mtf_kernel(0.23, 4)
    direct = ndimage.correlate(img, k, mode="nearest")  # imfilter 'replicate'
    np.testing.assert_allclose(D.mtf_filter(img, 0.23, 4), direct, atol=1e-9)


def test_decimate_phase():
    img = np.arange(16 * 16, dtype=float).reshape(16, 16)
    out = D.decimate(img, 4)
    assert out.shape == (4, 4)
    assert out[0, 0] == img[2, 2] and out[1, 2] == img[6, 10]
    assert D.decimate(img, 2)[0, 0] == img[1, 1]
    assert D.decimate(img[:15, :15], 3)[0, 0] == img[1, 1]


def test_interp23tap_constant_and_phase():
    const = np.full((12, 10, 2), 37.0)
    up = D.interp23tap(const, 4)
    assert up.shape == (48, 40, 2)
    np.testing.assert_allclose(up, 37.0, rtol=1e-8)  # coefficients are rounded to 12 digits
    rng = np.random.default_rng(1)
    lr = rng.uniform(0, 255, (16, 16))
    for ratio in (2, 4, 8):
        # An interpolator: the LR samples come back unchanged at the decimation phase.
        np.testing.assert_allclose(D.decimate(D.interp23tap(lr, ratio), ratio), lr, atol=1e-9)
    with pytest.raises(ValueError):
        D.interp23tap(lr, 3)


def test_upsample_ms_generic_ratio():
    rng = np.random.default_rng(2)
    lr = rng.uniform(0, 255, (10, 12, 3))
    up = D.upsample_ms(lr, 3)
    assert up.shape == (30, 36, 3)
    np.testing.assert_allclose(D.decimate(up, 3), lr, atol=1e-9)
    np.testing.assert_allclose(D.upsample_ms(np.full((8, 8, 2), 5.0), 3), 5.0, atol=1e-12)
    # Keys cubic reproduces a linear ramp away from the borders.
    ramp = np.tile(np.arange(10.0)[:, None], (1, 6))
    up = D.upsample_ms(ramp, 3)
    rows = np.arange(30)
    np.testing.assert_allclose(up[6:24, 2], (rows[6:24] - 1) / 3.0, atol=1e-12)
    np.testing.assert_array_equal(D.upsample_ms(lr, 4), D.interp23tap(lr, 4))


def test_imresize_bicubic_constant_ramp_and_size():
    const = np.full((41, 37), 9.0)
    out = D.imresize_bicubic(const, 0.25)
    assert out.shape == (11, 10)
    np.testing.assert_allclose(out, 9.0, atol=1e-12)
    # Downscaling by 4 samples at u = 4x - 1.5 (1-based); a ramp is reproduced away from borders.
    ramp = np.tile(np.arange(1.0, 81.0)[:, None], (1, 8))
    out = D.imresize_bicubic(ramp, 0.25)
    x = np.arange(1, 21)
    np.testing.assert_allclose(out[3:-3, 0], (4 * x - 1.5)[3:-3], atol=1e-12)
    up = D.imresize_bicubic(np.arange(8.0)[:, None] * np.ones((1, 4)), 2.0)
    assert up.shape == (16, 8)


def test_wald_degrade_constant_and_modes():
    ms = np.full((64, 64, 4), 120.0)
    pan = np.full((256, 256), 80.0)
    sensor = get_sensor("GeoEye1")
    ms_lr, pan_lr = D.wald_degrade(ms, pan, sensor, 4)
    assert ms_lr.shape == (16, 16, 4) and pan_lr.shape == (64, 64)
    np.testing.assert_allclose(ms_lr, 120.0 * D.mtf_kernel(0.23, 4).sum(), rtol=1e-12)
    np.testing.assert_allclose(pan_lr, 80.0, rtol=1e-12)
    _, pan_mtf = D.wald_degrade(ms, pan, sensor, 4, pan_mode="mtf")
    np.testing.assert_allclose(pan_mtf, 80.0 * D.mtf_kernel(0.16, 4).sum(), rtol=1e-12)


def test_wald_degrade_pan_mtf_mode_is_mtf_filtered():
    rng = np.random.default_rng(3)
    pan = rng.uniform(0, 255, (128, 128))
    ms = rng.uniform(0, 255, (32, 32, 4))
    sensor = get_sensor("QB")
    _, pan_lr = D.wald_degrade(ms, pan, sensor, 4, pan_mode="mtf")
    np.testing.assert_allclose(pan_lr, D.decimate(D.mtf_filter(pan, 0.15, 4), 4), atol=1e-12)


# ----------------------------------------------------------------------------- toolbox vectors

@pytest.fixture(scope="module")
def ge1():
    if not (REF / "rr_inputs.npz").exists() or not SCENE.exists():
        pytest.skip(f"toolbox test vectors not found under {SHARED}")
    from scipy.io import loadmat

    scene = loadmat(str(SCENE))
    ref = dict(np.load(REF / "rr_inputs.npz"))
    return scene["I_MS"].astype(np.float64), scene["I_PAN"].astype(np.float64), ref


def test_wald_degrade_reproduces_toolbox(ge1):
    ms, pan, ref = ge1
    ms_lr, pan_lr = D.wald_degrade(ms, pan, get_sensor("GeoEye1"), 4)
    np.testing.assert_allclose(ms_lr, ref["I_MS_LR"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(pan_lr, ref["I_PAN"], rtol=0, atol=1e-9)


def test_interp23tap_reproduces_toolbox(ge1):
    _, _, ref = ge1
    np.testing.assert_allclose(D.interp23tap(ref["I_MS_LR"], 4), ref["I_MS"], rtol=0, atol=1e-9)
