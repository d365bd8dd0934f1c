"""Quality metrics: toolbox test vectors (GeoEye-1) and hand cases with known values."""

import json
from pathlib import Path

import numpy as np
import pytest

from padm_pansharpening.engine import metrics as M
from padm_pansharpening.engine.degradation import interp23tap
from padm_pansharpening.engine.sensors import get_sensor

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REF = SHARED / "reference" / "ge1_toolbox"
SCENE = SHARED / "data" / "ge1_grip_pnn" / "imgGE1.mat"

# Tolerances of the ge1_toolbox README.
TOL = {"Q2n": 2e-3, "Q": 2e-3, "SAM": 0.01, "ERGAS": 0.01, "SCC": 5e-3, "SSIM": 5e-3, "PSNR": 0.05,
       "D_lambda_K": 2e-3, "D_s": 2e-3, "HQNR": 3e-3, "QNR_D_lambda": 2e-3, "QNR_D_s": 2e-3, "QNR": 3e-3}


def _image(seed=0, shape=(64, 64, 4), lo=20.0, hi=200.0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(lo, hi, shape)
    from scipy import ndimage

    return np.round(ndimage.uniform_filter(base, size=(5, 5, 1)))  # smooth integer-valued image


# ----------------------------------------------------------------------------- identities

def test_identical_images():
    img = _image()
    assert M.sam(img, img) == pytest.approx(0.0, abs=1e-6)
    assert M.ergas(img, img, 4) == 0.0
    assert M.q_index(img, img) == pytest.approx(1.0, abs=1e-12)
    assert M.q2n(img, img) == pytest.approx(1.0, abs=1e-12)
    assert M.scc(img, img) == pytest.approx(1.0, abs=1e-12)
    assert M.ssim(img, img, 8) == pytest.approx(1.0, abs=1e-12)
    assert M.psnr(img, img, 8) == float("inf")


def test_q2n_band_counts_padded_to_power_of_two():
    for nb in (1, 3, 5, 8):
        img = _image(seed=nb, shape=(40, 70, nb))  # not a multiple of 32: mirror padding
        assert M.q2n(img, img) == pytest.approx(1.0, abs=1e-12)
        assert M.q2n(img, img + np.random.default_rng(nb).normal(0, 8, img.shape)) < 0.99


# ----------------------------------------------------------------------------- closed forms

def test_sam_known_angle_and_zero_pixels():
    theta = np.deg2rad(30.0)
    ref = np.zeros((8, 8, 2))
    ref[..., 0] = 5.0
    fused = np.stack([np.full((8, 8), np.cos(theta)), np.full((8, 8), np.sin(theta))], axis=2) * 3.0
    assert M.sam(ref, fused) == pytest.approx(30.0, abs=1e-9)
    ref[0, 0] = 0.0  # a zero-norm pixel is skipped, not counted
    assert M.sam(ref, fused) == pytest.approx(30.0, abs=1e-9)
    assert M.sam(ref, 7.0 * ref) == pytest.approx(0.0, abs=1e-6)  # angle ignores gain


def test_ergas_constant_offset():
    ref = np.ones((16, 16, 3)) * np.array([50.0, 100.0, 200.0])
    fused = ref + 10.0
    expected = 100.0 / 4 * np.sqrt(np.mean((10.0 / np.array([50.0, 100.0, 200.0])) ** 2))
    assert M.ergas(ref, fused, 4) == pytest.approx(expected, rel=1e-12)


def test_psnr_known_mse():
    ref = _image()
    assert M.psnr(ref, ref + 5.0, 8) == pytest.approx(10 * np.log10(255.0 ** 2 / 25.0), rel=1e-12)
    noise = np.where(np.indices(ref.shape).sum(axis=0) % 2 == 0, 3.0, -3.0)
    assert M.psnr(ref, ref + noise, 11) == pytest.approx(10 * np.log10(2047.0 ** 2 / 9.0), rel=1e-12)


def test_q_index_gain_closed_form():
    # UIQI(x, a x) = correlation 1 * contrast 2a/(1+a^2) * luminance 2a/(1+a^2).
    ref = _image(seed=4, shape=(64, 64, 2))
    a = 1.5
    assert M.q_index(ref, a * ref) == pytest.approx(4 * a * a / (1 + a * a) ** 2, rel=1e-9)


def test_scc_gain_invariant_and_below_one():
    ref = _image(seed=5)
    assert M.scc(ref, 3.0 * ref) == pytest.approx(1.0, abs=1e-12)
    # Zero padding makes the border gradients dominate (toolbox behaviour): compare orders only.
    noisy = M.scc(ref, ref + np.random.default_rng(5).normal(0, 5, ref.shape))
    assert M.scc(ref, _image(seed=6)) < noisy < 1.0


def test_ssim_constant_images_closed_form():
    a, b = np.full((30, 30, 1), 100.0), np.full((30, 30, 1), 120.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)  # no variance: luminance only
    assert M.ssim(a, b, 8) == pytest.approx(expected, rel=1e-12)


def test_q2n_common_gain_invariance():
    ref = _image(seed=7, shape=(64, 96, 4))
    fused = ref + np.round(np.random.default_rng(7).normal(0, 6, ref.shape))
    assert M.q2n(4 * ref, 4 * fused) == pytest.approx(M.q2n(ref, fused), abs=1e-12)


def test_q2n_two_bands_is_complex_uiqi():
    # For 2 bands the hypercomplex index is the complex UIQI of z = b1 + i b2, each band of both
    # images normalised with the reference block's mean and std (one 32x32 block here).
    rng = np.random.default_rng(8)
    ref = np.round(rng.uniform(50, 150, (32, 32, 2)))
    fus = np.round(ref * 0.9 + rng.normal(0, 10, ref.shape) + 5)
    mu, sd = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1), ddof=1)
    x, y = (ref - mu) / sd + 1, (fus - mu) / sd + 1
    zx, zy = (x[..., 0] + 1j * x[..., 1]).ravel(), (y[..., 0] + 1j * y[..., 1]).ravel()
    mx, my = zx.mean(), zy.mean()
    cov = np.sum((zx - mx) * np.conj(zy - my)) / (zx.size - 1)
    var = (np.sum(np.abs(zx - mx) ** 2) + np.sum(np.abs(zy - my) ** 2)) / (zx.size - 1)
    q = abs(cov) * 2 / var * 2 * abs(mx) * abs(my) / (abs(mx) ** 2 + abs(my) ** 2)
    assert M.q2n(ref, fus) == pytest.approx(q, rel=1e-10)


def test_q2n_one_band_is_block_uiqi():
    rng = np.random.default_rng(9)
    ref = np.round(rng.uniform(50, 150, (64, 64, 1)))
    fus = np.round(ref + rng.normal(0, 15, ref.shape))
    vals = []
    for i in (0, 32):
        for j in (0, 32):
            a, b = ref[i:i + 32, j:j + 32, 0].ravel(), fus[i:i + 32, j:j + 32, 0].ravel()
            # Both normalised with the reference block's statistics, which moves the luminance term.
            mu, sd = a.mean(), a.std(ddof=1)
            a, b = (a - mu) / sd + 1, (b - mu) / sd + 1
            c = np.cov(a, b)
            vals.append(abs(4 * c[0, 1] * a.mean() * b.mean() / (c[0, 0] + c[1, 1]) / (a.mean() ** 2 + b.mean() ** 2)))
    assert M.q2n(ref, fus) == pytest.approx(np.mean(vals), rel=1e-10)


def test_q2n_composition_algebra():
    # The Cayley-Dickson product of the toolbox keeps norms multiplicative up to 8 components.
    rng = np.random.default_rng(10)
    for n in (2, 4, 8):
        x, y = rng.normal(size=(6, n)), rng.normal(size=(6, n))
        np.testing.assert_allclose(np.linalg.norm(M._onion_mult(x, y), axis=1),
                                   np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), rtol=1e-12)
    z = rng.normal(size=(6, 2))
    w = rng.normal(size=(6, 2))
    prod = (z[:, 0] + 1j * z[:, 1]) * (w[:, 0] + 1j * w[:, 1])
    np.testing.assert_allclose(M._onion_mult(z, w), np.stack([prod.real, prod.imag], axis=1), atol=1e-12)


def test_crop_border_matches_toolbox_cut():
    img = np.zeros((320, 320, 1))
    assert M.crop_border(img, 21).shape == (279, 279, 1)  # I(21:end-21), 1-based


def test_full_resolution_exp_has_no_qnr_spectral_distortion():
    rng = np.random.default_rng(11)
    ms_lr = np.round(rng.uniform(50, 150, (25, 25, 4)))
    pan = np.round(rng.uniform(50, 150, (100, 100)))  # not a multiple of 32: cut to 96 x 96
    fused = interp23tap(ms_lr, 4)
    out = M.full_resolution_metrics(fused, ms_lr, pan, get_sensor("QB"), 4)
    assert out["QNR_D_lambda"] == 0.0
    assert out["QNR"] == pytest.approx(1 - out["D_s"])
    assert out["HQNR"] == pytest.approx((1 - out["D_lambda_K"]) * (1 - out["D_s"]))
    assert 0 <= out["D_lambda_K"] < 1 and 0 <= out["D_s"] < 1
    with pytest.raises(ValueError):
        M.full_resolution_metrics(fused[:96, :96], ms_lr, pan, get_sensor("QB"), 4)


# ----------------------------------------------------------------------------- toolbox vectors

@pytest.fixture(scope="module")
def toolbox():
    if not (REF / "metrics.json").exists():
        pytest.skip(f"toolbox test vectors not found under {REF}")
    return json.loads((REF / "metrics.json").read_text()), dict(np.load(REF / "rr_inputs.npz"))


@pytest.mark.parametrize("method", ["EXP", "GSA", "MTF-GLP-HPM", "BT-H", "BDSD-PC"])
def test_reduced_resolution_reproduces_toolbox(toolbox, method):
    expected, inputs = toolbox
    fused = np.load(REF / f"rr_fused_{method}.npz")["I_F"].astype(np.float64)
    got = M.reduced_resolution_metrics(fused, inputs["I_GT"], 4, 8, crop=21)
    for key, value in expected["RR"][method].items():
        assert abs(got[key] - value) <= TOL[key], f"{method} {key}: {got[key]} vs toolbox {value}"


@pytest.mark.parametrize("method", ["GSA", "EXP"])
def test_full_resolution_reproduces_toolbox(toolbox, method):
    if not SCENE.exists():
        pytest.skip(f"scene not found: {SCENE}")
    from scipy.io import loadmat

    expected, _ = toolbox
    scene = loadmat(str(SCENE))
    ms, pan = scene["I_MS"].astype(np.float64), scene["I_PAN"].astype(np.float64)
    if method == "GSA":
        fused = np.load(REF / "fr_fused_GSA.npz")["I_F"].astype(np.float64)
    else:
        fused = interp23tap(ms, 4)
    got = M.full_resolution_metrics(fused, ms, pan, get_sensor("GeoEye1"), 4)
    for key, value in expected["FR"][method].items():
        assert abs(got[key] - value) <= TOL[key], f"{method} {key}: {got[key]} vs toolbox {value}"
