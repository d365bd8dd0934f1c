"""HFreqDiff: noise, sampler, network shapes, ONNX parity, tiling consistency, the method protocol."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from padm_pansharpening.engine.hfreqdiff import conditioning, diffusion
from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod, sample_tile
from padm_pansharpening.engine.hfreqdiff.pieces import NET_REACH
from padm_pansharpening.engine.hfreqdiff.runtime import torch_denoiser_of
from padm_pansharpening.engine.sensors import get_sensor

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BUNDLED_ONNX = Path(__file__).resolve().parents[1] / "models" / "hfreqdiff.onnx"


from padm_pansharpening.tests.hfreqdiff_helpers import net, onnx_path  # noqa: E402,F401 - fixtures
from padm_pansharpening.tests.hfreqdiff_helpers import synthetic_scene as _scene  # noqa: E402


# --- noise and sampler ------------------------------------------------------------------------

def test_noise_is_tiling_independent_and_seed_deterministic():
    big = diffusion.tile_noise(7, 3, (40, 50), (-8, 100))
    tile = diffusion.tile_noise(7, 3, (10, 12), (5, 117))  # rows 13..22, cols 17..28 of `big`
    np.testing.assert_array_equal(tile, big[:, :, 13:23, 17:29])
    np.testing.assert_array_equal(big, diffusion.tile_noise(7, 3, (40, 50), (-8, 100)))
    other_seed = diffusion.tile_noise(8, 3, (40, 50), (-8, 100))
    assert np.abs(other_seed - big).mean() > 0.5
    assert np.abs(big[0, 0] - big[0, 1]).mean() > 0.5  # bands differ
    many = diffusion.tile_noise(1, 2, (300, 300), (0, 0)).ravel()
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1) < 0.01
    assert abs(np.mean(many ** 4) - 3) < 0.05  # Gaussian kurtosis
    assert abs(np.corrcoef(many[:-1], many[1:])[0, 1]) < 0.01  # neighbours uncorrelated


def test_ddim_with_oracle_returns_its_x0():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((1, 4, 9, 7)).astype(np.float32)
    seen = []

    def oracle(x_t, t, cond):
        seen.append(t)
        return x0

    for steps in (1, 3, 10):
        seen.clear()
        out = diffusion.ddim_sample(oracle, rng.standard_normal(x0.shape), None, steps)
        np.testing.assert_allclose(out, x0, atol=1e-6)
        assert seen[0] == 1.0 and len(seen) == steps and all(a > b for a, b in zip(seen, seen[1:]))


def test_ddim_is_consistent_with_the_forward_process():
    """With an oracle that knows x0, every intermediate x_t lies on the DDIM path sqrt(ab) x0 + sqrt(1-ab) eps."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    states = []

    def oracle(x_t, t, cond):
        states.append((t, x_t.copy()))
        return x0

    diffusion.ddim_sample(oracle, eps, None, 5)
    for t, x_t in states:
        np.testing.assert_allclose(x_t, diffusion.q_sample(x0, eps, t), atol=1e-5)
    assert diffusion.alpha_bar(0.0) == pytest.approx(1.0) and diffusion.alpha_bar(1.0) == pytest.approx(0.0, abs=1e-12)


# --- conditioning ------------------------------------------------------------------------------

def test_residual_round_trip_and_flat_pan_has_no_detail():
    pan, ms = _scene(4, 12, 10, 5)
    st = conditioning.fit_stats(pan, ms, 4, get_sensor("WV3"))
    cond = conditioning.build_condition(pan, ms, 4, st)
    hrms = cond["ms_up"] + np.random.default_rng(2).standard_normal(cond["ms_up"].shape)
    back = conditioning.reconstruct(conditioning.residual_target(hrms, cond["ms_up"], st), cond["ms_up"], st)
    np.testing.assert_allclose(back, hrms, rtol=1e-5, atol=1e-3)
    # A flat PAN has no detail: the high-pass is only the toolbox MTF kernel's DC loss (sum 0.998..1).
    flat = conditioning.build_condition(np.full_like(pan, 321.0), ms, 4, st)
    assert np.abs(flat["pan"][0, 1] * st.pan_scale).max() < 2e-3 * 321.0
    assert np.ptp(flat["pan"][0, 1]) < 1e-5 and np.ptp(flat["band"][0, :, 1], axis=(1, 2)).max() < 1e-5


def test_patch_sampler_shapes_and_band_subsets():
    from padm_pansharpening.engine.hfreqdiff.pairs import PatchSampler, TrainingPair

    rng = np.random.default_rng(0)
    stats = np.stack([np.linspace(0, 1, 8), np.linspace(1, 2, 8)], 1).astype(np.float32)
    pair = TrainingPair("x", 4, rng.standard_normal((8, 3, 40, 44)).astype(np.float32),
                        rng.standard_normal((2, 40, 44)).astype(np.float32), np.linspace(0, 1, 8).astype(np.float32),
                        rng.standard_normal((8, 40, 44)).astype(np.float32), stats)
    sampler = PatchSampler([pair], patch=16, batch=3, seed=1, subset_prob=1.0)
    counts = set()
    for _ in range(20):
        b = sampler.sample()
        n_b = b["x0"].shape[1]
        counts.add(n_b)
        assert b["x0"].shape == (3, n_b, 16, 16) and b["band"].shape == (3, n_b, 3, 16, 16)
        assert b["pan"].shape == (3, 2, 16, 16) and b["desc"].shape == (3, n_b)
        assert np.all(np.diff(b["desc"][0]) > 0)  # band order kept
        assert b["band_stats"].shape == (3, n_b, 2)
        np.testing.assert_allclose(b["band_stats"][0, :, 0], b["desc"][0], atol=1e-6)  # same bands as desc
    assert min(counts) >= 3 and len(counts) > 2


# --- network -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bands,ratio,h_lr,w_lr", [(3, 2, 7, 9), (4, 4, 5, 7), (6, 2, 9, 5), (8, 4, 3, 5)])
def test_method_shapes_any_band_count_ratio_and_odd_sizes(net, bands, ratio, h_lr, w_lr):
    pan, ms = _scene(ratio, h_lr, w_lr, bands)
    m = HFreqDiffMethod(denoiser=torch_denoiser_of(net), steps=2)
    m.fit(pan, ms, ratio, get_sensor("none"))
    out = m.fuse_tile(pan, ms, ratio, (ratio * 3, ratio))  # origin off the network's 4-pixel grid
    assert out.shape == (h_lr * ratio, w_lr * ratio, bands) and np.isfinite(out).all()


def test_network_receptive_field_is_net_reach(net):
    s = 4 * (NET_REACH // 2 + 8)
    reach = []
    for phase in range(4):  # the reach depends on the pixel's phase on the 4-pixel grid
        x = torch.zeros(1, 3, s, s, requires_grad=True)
        band = torch.randn(1, 3, 3, s, s, requires_grad=True)
        pan = torch.randn(1, 2, s, s, requires_grad=True)
        out = net(x, torch.tensor([0.5]), band, pan, torch.tensor([[0.1, 0.2, 0.3]]))
        c = s // 2 + phase
        out[0, 1, c, c].backward()
        grad = x.grad.abs().sum((0, 1)) + band.grad.abs().sum((0, 1, 2)) + pan.grad.abs().sum((0, 1))
        rows, cols = np.nonzero(grad.numpy())
        reach.append(max(c - rows.min(), rows.max() - c, c - cols.min(), cols.max() - c))
        # band attention / mixing: the output of band 1 depends on the other bands' inputs too
        assert band.grad[0, 0].abs().sum() > 0 and band.grad[0, 2].abs().sum() > 0
    assert max(reach) == NET_REACH


@pytest.mark.parametrize("ratio,quality,context,steps", [(2, "fast", 0, 2), (4, "fast", 0, 2), (4, "best", 0, 2),
                                                          (4, "fast", "halo", 1), (4, "best", "halo", 1),
                                                          (2, "fast", "halo", 2)])
def test_tiles_equal_whole_scene(net, ratio, quality, context, steps):
    """Two tiles with the method's halo give the whole-region result (same noise, same grid), for
    both quality presets; exactly with the whole network reach (random network, context 0), and to
    float32 rounding when the network only gets its context (NET_RADIUS) beyond what is kept, as the
    tiler runs it (context = the halo; the shipped model, whose influence decays within it)."""
    fn = {} if context == "halo" else {"denoiser": torch_denoiser_of(net)}
    m = HFreqDiffMethod(**fn, steps=steps, seed=3, quality=quality)
    assert m.ensemble == ("flips" if quality == "best" else "none")
    halo = m.halo(ratio)
    assert halo % ratio == 0
    ctx = halo if context == "halo" else 0
    h_lr, w_lr = 16, 24 // ratio * 2
    hl = halo // ratio
    pan, ms = _scene(ratio, h_lr + 2 * hl, w_lr + 2 * hl, 4, seed=5)
    m.fit(pan, ms, ratio, get_sensor("GeoEye1"))
    whole = m.fuse_tile(pan, ms, ratio, (-halo, -halo))[halo:-halo, halo:-halo]
    half = w_lr // 2
    tiles = []
    for j0 in (0, half):  # tile columns [j0, j0+half) in LR pixels of the region, each with its halo
        t = m.fuse_tile(pan[:, j0 * ratio:(j0 + half + 2 * hl) * ratio], ms[:, j0:j0 + half + 2 * hl], ratio,
                        (-halo, j0 * ratio - halo), context=ctx)
        tiles.append(t[halo:-halo, halo:-halo])
    np.testing.assert_allclose(np.concatenate(tiles, 1), whole, rtol=1e-5, atol=1e-3 if ctx == 0 else 5e-3)
    again = m.fuse_tile(pan[:, :(half + 2 * hl) * ratio], ms[:, :half + 2 * hl], ratio, (-halo, -halo), context=ctx)
    assert np.array_equal(again[halo:-halo, halo:-halo], tiles[0])  # same seed, same output


def test_quality_presets_and_the_ensemble_override(net):
    fn = torch_denoiser_of(net)
    assert HFreqDiffMethod(denoiser=fn).quality == "fast" and HFreqDiffMethod(denoiser=fn).ensemble == "none"
    assert HFreqDiffMethod(denoiser=fn, quality="fast").ensemble == "none"
    assert HFreqDiffMethod(denoiser=fn, quality="best", ensemble="none").ensemble == "none"  # the expert override
    described = HFreqDiffMethod(denoiser=fn, quality="best").describe()
    assert described["quality"] == "best" and described["ensemble"] == "flips"
    from padm_pansharpening.engine.errors import PansharpenError
    from padm_pansharpening.engine.options import HFreqDiffOptions

    with pytest.raises(PansharpenError, match="quality"):
        HFreqDiffMethod(denoiser=fn, quality="medium")
    assert HFreqDiffOptions(quality="best").cli_args() == ["--seed", "0", "--samples", "1", "--device", "auto",
                                                           "--quality", "best"]


# --- band statistics ---------------------------------------------------------------------------

def test_detail_relation_follows_the_pan():
    """A band that is a scaled copy of the PAN at MS resolution has detail correlation 1 and gain 1
    (relative to the histogram-matching gain); a band of independent noise has neither."""
    rng = np.random.default_rng(3)
    pan, ms = _scene(4, 48, 40, 1, seed=3)
    st0 = conditioning.fit_stats(pan, ms, 4, get_sensor("GeoEye1"))
    from padm_pansharpening.engine.degradation import decimate, mtf_filter

    pan_lr = decimate(mtf_filter(pan, st0.lp_gnyq, 4), 4)
    ms = np.stack([3.0 * pan_lr + 40.0, 500 + 50 * rng.standard_normal(pan_lr.shape)], 2)
    st = conditioning.fit_stats(pan, ms, 4, get_sensor("GeoEye1"))
    np.testing.assert_allclose(st.band_stats[0], [1.0, 1.0], atol=1e-6)
    assert abs(st.detail_corr[1]) < 0.15 and abs(st.detail_gain[1]) < 0.15
    assert st.select(np.array([1])).band_stats.shape == (1, 2)
    cond = conditioning.build_condition(pan, ms, 4, st)
    assert cond["band_stats"].shape == (1, 2, 2) and cond["band_stats"].dtype == np.float32


@pytest.fixture(scope="module")
def stats_net():
    """A small random network that takes band statistics, all weights perturbed."""
    from padm_pansharpening.engine.hfreqdiff.network import build_network

    torch.manual_seed(1)
    n = build_network({"channels": [8, 16, 16], "cond_channels": [8, 8, 8], "emb": 16, "band_stats": True}).eval()
    with torch.no_grad():
        for p in n.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return n


def test_band_statistics_network_exports_to_onnx(stats_net, tmp_path):
    """The ONNX model of a band-statistics network takes them as an extra input; ORT and torch
    agree, through the method too."""
    from padm_pansharpening.engine.hfreqdiff.export import export_onnx, model_metadata, onnx_parity
    from padm_pansharpening.engine.hfreqdiff.runtime import onnx_denoiser

    steered = copy.deepcopy(stats_net)
    with torch.no_grad():
        for p in steered.embed.stats.parameters():
            p.add_(0.5 * torch.randn_like(p))
    path = export_onnx(steered, tmp_path / "stats.onnx", model_metadata())
    assert onnx_parity(steered, path, (2, 3, 12, 20)) < 1e-4
    import onnxruntime as ort

    assert "band_stats" in [i.name for i in ort.InferenceSession(str(path)).get_inputs()]
    ort_fn, _, _ = onnx_denoiser(path, "cpu", threads=1)
    pan, ms = _scene(2, 7, 9, 6)
    st = conditioning.fit_stats(pan, ms, 2, get_sensor("Landsat7"))
    a = sample_tile(ort_fn, pan, ms, 2, st, 2, seed=0, origin=(2, 6))
    b = sample_tile(torch_denoiser_of(steered), pan, ms, 2, st, 2, seed=0, origin=(2, 6))
    residual = b - conditioning.build_condition(pan, ms, 2, st)["ms_up"]
    assert np.abs(a - b).max() / np.abs(residual).max() < 1e-4


# --- ONNX ----------------------------------------------------------------------------------------

def test_onnx_runtime_matches_torch_on_odd_sizes(net, onnx_path):
    from padm_pansharpening.engine.hfreqdiff.export import onnx_parity
    from padm_pansharpening.engine.hfreqdiff.runtime import onnx_denoiser

    assert onnx_parity(net, onnx_path, (2, 5, 12, 20)) < 1e-4
    ort_fn, provider, meta = onnx_denoiser(onnx_path, "cpu", threads=1)
    assert provider == "onnxruntime:CPUExecutionProvider" and meta["default_steps"] == "3"
    pan, ms = _scene(2, 7, 9, 6)  # PAN 14 x 18: not a multiple of the network's grid
    st = conditioning.fit_stats(pan, ms, 2, get_sensor("Landsat7"))
    a = sample_tile(ort_fn, pan, ms, 2, st, 3, seed=0, origin=(2, 6))
    b = sample_tile(torch_denoiser_of(net), pan, ms, 2, st, 3, seed=0, origin=(2, 6))
    residual = b - conditioning.build_condition(pan, ms, 2, st)["ms_up"]  # what the network produced, in DN
    assert a.shape == (14, 18, 6) and np.abs(residual).max() > 1.0
    assert np.abs(a - b).max() / np.abs(residual).max() < 1e-4


# --- method through the protocol ----------------------------------------------------------------

def _ge1_crop():
    if not (SHARED / "data" / "ge1_grip_pnn").exists():
        pytest.skip(f"shared data missing at {SHARED / 'data'}")
    from lab.scenes import load_scene

    s = load_scene("ge1_grip_pnn")
    return s, s.pan[:256, :192], s.ms_lr[:64, :48]


def test_method_protocol_on_a_real_crop(onnx_path):
    from padm_pansharpening.engine.methods import FusionMethod, get_method

    scene, pan, ms = _ge1_crop()
    m = get_method("hfreqdiff", model=str(onnx_path), steps=2, samples=2, device="cpu")
    assert isinstance(m, FusionMethod) and m.provider.startswith("onnxruntime:")
    m.fit(pan, ms, 4, scene.sensor)
    out = m.fuse_tile(pan, ms, 4, (0, 0))
    assert out.shape == (256, 192, 4) and np.isfinite(out).all()
    # DN, not normalised units: band means stay near the MS band means
    np.testing.assert_allclose(out.mean((0, 1)), ms.mean((0, 1)), rtol=0.1)
    assert m.last_spread is not None and m.last_spread.shape == out.shape and m.last_spread.max() > 0


@pytest.mark.skipif(not BUNDLED_ONNX.exists(), reason="bundled model models/hfreqdiff.onnx not trained yet")
def test_bundled_model_on_the_toolbox_reduced_resolution_vectors():
    """Held-out GeoEye-1 scene, the toolbox's own Wald-degraded inputs: the shipped model must beat
    EXP clearly and come close to GSA (reference metrics.json: EXP Q2n 0.813 / ERGAS 1.648,
    GSA 0.912 / 1.293)."""
    import json

    from padm_pansharpening.engine.metrics import reduced_resolution_metrics
    from lab.train import fuse_padded

    ref = SHARED / "reference" / "ge1_toolbox"
    if not ref.exists():
        pytest.skip(f"toolbox reference vectors missing at {ref}")
    rr = np.load(ref / "rr_inputs.npz")
    known = json.loads((ref / "metrics.json").read_text())["RR"]
    m = HFreqDiffMethod(device="cpu", threads=1)
    assert m.steps == int(m.metadata["default_steps"])
    fused = fuse_padded(m, rr["I_PAN"], rr["I_MS_LR"], 4, get_sensor("GeoEye1"), 16)
    got = reduced_resolution_metrics(np.clip(fused, 0, 255), rr["I_GT"], 4, 8)
    assert got["Q2n"] > known["EXP"]["Q2n"] + 0.08 and got["Q2n"] > known["GSA"]["Q2n"] - 0.01
    assert got["ERGAS"] < 0.85 * known["EXP"]["ERGAS"] and got["SAM"] < known["MTF-GLP-HPM"]["SAM"]


def test_user_errors_are_one_line_pansharpen_errors(tmp_path, onnx_path):
    from padm_pansharpening.engine.errors import PansharpenError

    with pytest.raises(PansharpenError, match="No HFreqDiff model found"):
        HFreqDiffMethod(model=tmp_path / "missing.onnx")
    a_pt = tmp_path / "m.pt"
    a_pt.write_bytes(b"")
    with pytest.raises(PansharpenError, match="give a .onnx model"):
        HFreqDiffMethod(model=a_pt, backend="onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PansharpenError, match="Cannot load the model"):
        HFreqDiffMethod(model=bad, device="cpu")
    m = HFreqDiffMethod(model=onnx_path, device="cpu")
    pan, ms = _scene(2, 6, 6, 9)
    with pytest.raises(PansharpenError, match="3 to 8 MS bands"):
        m.fit(pan, ms, 2, get_sensor("none"))


def test_torch_model_is_chosen_where_only_torch_sees_the_gpu(monkeypatch, tmp_path):
    """(file, runtime): torch runs a .pt, or the .onnx (the bundled model is only that) through the
    network built from its weights, which needs the onnx package."""
    from padm_pansharpening.engine import gpu, model_files

    folder = tmp_path / "scene_model"
    folder.mkdir()
    for name in ("m.onnx", "m.pt"):
        (folder / name).write_bytes(b"")
    assert gpu.only_torch_sees_the_gpu() == (gpu.nvidia_gpu_present() and not gpu.onnxruntime_has_cuda()
                                            and torch.cuda.is_available())
    monkeypatch.setattr(model_files, "only_torch_sees_the_gpu", lambda probe_torch=True: True)
    def chosen(*args) -> tuple[str, str]:
        path, runtime = model_files.resolve_model(*args)
        return path.name, runtime

    assert chosen(None, "auto", "auto") == ("hfreqdiff.onnx", "torch")
    assert chosen(folder, "auto", "cuda") == ("m.pt", "torch")
    assert chosen(None, "auto", "cpu") == ("hfreqdiff.onnx", "onnx")  # the user said cpu
    assert chosen(None, "onnx", "auto") == ("hfreqdiff.onnx", "onnx")  # the user said onnx
    assert chosen(folder / "m.onnx", "auto", "auto") == ("m.onnx", "onnx")  # an explicit file
    assert chosen(folder / "m.onnx", "torch", "cpu") == ("m.onnx", "torch")
    monkeypatch.setattr(model_files, "only_torch_sees_the_gpu", lambda probe_torch=True: False)
    assert chosen(None, "auto", "auto") == ("hfreqdiff.onnx", "onnx")
    (folder / "m.pt").unlink()
    monkeypatch.setattr(model_files, "only_torch_sees_the_gpu", lambda probe_torch=True: True)
    assert chosen(folder, "auto", "auto") == ("m.onnx", "torch")  # no .pt: torch from the .onnx
    monkeypatch.setattr(model_files, "_onnx_installed", lambda: False)
    assert chosen(folder, "auto", "auto") == ("m.onnx", "onnx")  # torch cannot read it: ONNX Runtime
    assert chosen(None, "auto", "auto") == ("hfreqdiff.onnx", "onnx")


def test_a_model_folder_serves_each_quality_preset_its_own_file(tmp_path):
    """A folder with a fast-preset file (a PADM folder that kept the shipped models) gives it to fast
    runs and its other files to best runs; a folder without one serves both presets the same file."""
    from padm_pansharpening.engine import model_files

    folder = tmp_path / "kept_shipped"
    folder.mkdir()
    for name in ("model.onnx", "model.pt", "model_fast.onnx"):
        (folder / name).write_bytes(b"")

    def chosen(quality: str, backend: str = "auto") -> str:
        return model_files.resolve_model(folder, backend, "cpu", quality=quality)[0].name

    assert chosen("fast") == "model_fast.onnx" and chosen("best") == "model.onnx"
    assert chosen("best", "torch") == "model.pt" and chosen("fast", "torch") == "model_fast.onnx"
    (folder / "model_fast.onnx").unlink()
    assert chosen("fast") == chosen("best") == "model.onnx"


def test_cuda_libraries_are_preloaded_only_when_onnx_runtime_may_use_cuda(monkeypatch, tmp_path):
    """onnxruntime-gpu's preload_dlls runs before a CUDA session only; a failing preload or a CUDA
    provider that cannot start leaves the CPU provider, and the provider that ran is reported."""
    import types

    from padm_pansharpening.engine.hfreqdiff import runtime

    calls, asked = [], []

    def preload():
        calls.append(1)
        raise OSError("libcudnn.so.9: cannot open shared object file")

    class Session:  # CUDA asked for, not started: ONNX Runtime falls back to the CPU provider
        def __init__(self, path, opts, providers):
            asked.append(providers)

        def get_providers(self):
            return ["CPUExecutionProvider"]

        def get_modelmeta(self):
            return types.SimpleNamespace(custom_metadata_map={})

        def get_inputs(self):
            return []

    fake = types.SimpleNamespace(get_available_providers=lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
                                 preload_dlls=preload, SessionOptions=lambda: types.SimpleNamespace(),
                                 InferenceSession=Session,
                                 GraphOptimizationLevel=types.SimpleNamespace(ORT_ENABLE_EXTENDED=2))
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    _, provider, _ = runtime.onnx_denoiser(tmp_path / "m.onnx", "auto")
    assert calls == [1] and asked[-1][0] == "CUDAExecutionProvider"
    assert provider == "onnxruntime:CPUExecutionProvider"
    runtime.onnx_denoiser(tmp_path / "m.onnx", "cpu")
    assert calls == [1] and asked[-1] == ["CPUExecutionProvider"]


def test_samples_write_an_uncertainty_geotiff_beside_the_output(tmp_path, onnx_path):
    from osgeo import gdal

    from padm_pansharpening.engine import demo as datasets
    from padm_pansharpening.engine.errors import Cancelled
    from padm_pansharpening.engine.pipeline import fuse_files

    scene, _ = datasets.demo_scene(128, seed=5)
    pan, ms = datasets.write_geotiffs(scene, tmp_path)
    opts = {"model": str(onnx_path), "steps": 2, "device": "cpu", "ensemble": "none"}
    one = fuse_files(pan, ms, tmp_path / "one.tif", "hfreqdiff", tile=64, method_options={**opts, "samples": 1})
    assert one.uncertainty_path is None and not (tmp_path / "one_uncertainty.tif").exists()
    assert one.provider.startswith("onnxruntime:")

    res = fuse_files(pan, ms, tmp_path / "three.tif", "hfreqdiff", tile=64, method_options={**opts, "samples": 3})
    assert res.uncertainty_path == tmp_path / "three_uncertainty.tif"
    fused, spread = gdal.Open(str(res.out_path)), gdal.Open(str(res.uncertainty_path))
    assert spread.RasterCount == fused.RasterCount == 4
    assert spread.GetGeoTransform() == fused.GetGeoTransform() and spread.GetProjection() == fused.GetProjection()
    assert spread.GetRasterBand(1).DataType == gdal.GDT_Float32
    s = spread.ReadAsArray().astype(np.float64)
    assert (s >= 0).all() and s.mean() > 0  # independent seeds differ
    md = fused.GetMetadata()
    assert json.loads(md["PADM_RUNTIME"])["samples"] == 3 and "onnxruntime" in md["PADM_RUNTIME"]
    # the mean of 3 samples differs from the single sample (seed 0 is one of the three)
    assert np.abs(fused.ReadAsArray().astype(float) - gdal.Open(str(one.out_path)).ReadAsArray()).max() > 0
    fused = spread = None

    calls = {"n": 0}

    def cancel_after_two_tiles() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        fuse_files(pan, ms, tmp_path / "cut.tif", "hfreqdiff", tile=64, is_cancelled=cancel_after_two_tiles,
                   method_options={**opts, "samples": 2})
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("cut", ".cut")))
    assert left == []


@pytest.mark.skipif(not BUNDLED_ONNX.exists(), reason="bundled model models/hfreqdiff.onnx not trained yet")
def test_bundled_onnx_metadata_describes_the_model():
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(BUNDLED_ONNX), load_external_data=False).metadata_props}
    for key in ("format", "bands", "ratios", "normalisation", "default_steps", "tile", "overlap", "training"):
        assert meta.get(key), key
    assert meta["format"] == "hfreqdiff-v1" and meta["ratios"] == "2,4" and meta["bands"] == "3-8"
    trained = json.loads(meta["training"])
    assert trained["steps_trained"] > 0 and trained["held_out"]
    assert set(trained["train_scenes"]).isdisjoint(trained["held_out"])
