"""PADM: operator conventions (against an independent analytic synthesis), kernel constraints, the
profile JSON, the known-degradation check and the `degradation` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab import synthetic
from padm_pansharpening.engine import cli, demo as datasets
from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.padm import profile as prof

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_mtf_guess_is_a_centred_normalised_kernel():
    for ratio in (2, 3, 4):
        k = prof.mtf_guess_kernel(0.23, ratio)
        assert k.shape == (prof.kernel_size_for(ratio),) * 2 and (k.shape[0] - ratio) % 2 == 0
        assert k.min() >= 0 and k.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)  # centred on the support's centre
        np.testing.assert_allclose(k, k.T, atol=1e-12)
    # the toolbox MTF filter: width sigma ~ 2.2 PAN px for GeoEye-1 MS at ratio 4
    k = prof.mtf_guess_kernel(0.23, 4)
    x = np.arange(16) - 7.5
    assert np.sqrt((k.sum(0) * x ** 2).sum()) == pytest.approx(2.23, abs=0.05)


def test_decimation_phase_and_shift_convention():
    """A point at PAN (33, 30) with a centred 4x4 box kernel lands in MS pixel (8, 7); a shift of
    +1 LR pixel in x makes MS pixel (8, 6) see it instead; +1 in y, MS pixel (7, 7)."""
    box = np.pad(np.full((4, 4), 1 / 16), 6)
    img = np.zeros((64, 64))
    img[33, 30] = 1.0
    for (dx, dy), where in (((0, 0), (8, 7)), ((1, 0), (8, 6)), ((0, 1), (7, 7))):
        out = prof.degrade_band(img, box, 4, dx, dy)
        assert tuple(np.argwhere(out > 0.03)[0]) == where and out.max() == pytest.approx(1 / 16, abs=1e-6)
        assert np.sum(out > 0.03) == 1


def test_operator_matches_independent_analytic_synthesis():
    """The learned operator's convention (Fourier-shifted kernel, decimation phase) reproduces the
    synthesis that samples the shifted anisotropic Gaussian analytically; torch == numpy."""
    from padm_pansharpening.engine.padm.degrade_net import PDegradeNet

    truth = synthetic.KnownDegradation(shifts=((0.4, -0.25), (-0.3, 0.15)), weights=(0.4, 0.6))
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    hrms = np.stack([gaussian_filter(rng.random((96, 96)), 1.2) * 400 + 100 for _ in range(2)], axis=2)
    lrms, pan = synthetic.synthesize(hrms, truth)
    kt = synthetic.true_kernel(truth)
    p = prof.DegradationProfile(4, np.stack([kt, kt]), kt, np.array(truth.shifts), np.array(truth.weights),
                                truth.bias)
    ours = p.degrade_ms(hrms)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(ours - lrms)[inner].max() < 0.02 * lrms.std()
    # a wrong phase (half a PAN pixel) or a wrong sign of the shift is far off
    wrong = prof.DegradationProfile(4, p.kernels, kt, -p.shifts, p.spectral_weights, p.spectral_bias)
    assert np.abs(wrong.degrade_ms(hrms) - lrms)[inner].max() > 10 * np.abs(ours - lrms)[inner].max()
    np.testing.assert_allclose(p.spectral_response(hrms), pan, atol=0.01)
    net = PDegradeNet.from_profile(p)
    x = torch.tensor(np.moveaxis(hrms, 2, 0)[None], dtype=torch.float32)
    via_torch = np.moveaxis(net.degrade_ms(x)[0].detach().double().numpy(), 0, 2)
    np.testing.assert_allclose(via_torch, ours, rtol=2e-4)  # float32


def test_degrade_net_kernels_stay_normalised_and_nonnegative():
    from padm_pansharpening.engine.padm.degrade_net import PDegradeNet

    k0 = np.stack([prof.mtf_guess_kernel(g, 4) for g in (0.23, 0.3, 0.35)])
    net = PDegradeNet(4, k0, k0[0], np.zeros((3, 2)), np.array([0.2, 0.3, 0.5]), 4.0)
    np.testing.assert_allclose(net.kernels().detach().numpy(), k0, atol=1e-5)  # starts at the guess
    with torch.no_grad():
        for p in (net.ms_logits, net.pan_logits, net.ms_quad, net.pan_quad, net.w_raw):
            p.add_(3 * torch.randn_like(p))
    for k in list(net.kernels().detach().numpy()) + [net.pan_kernel().detach().numpy()]:
        assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-5)
    assert (net.weights() >= 0).all()
    out = net.to_profile()
    assert out.kernels.shape == (3, 16, 16) and np.all(out.spectral_weights >= 0)


def test_profile_json_round_trip_and_validation(tmp_path):
    k = prof.mtf_guess_kernel(0.3, 4)
    p = prof.DegradationProfile(4, np.stack([k, k, k]), k, np.array([[0.1, -0.2], [0, 0], [0.3, 0.05]]),
                                np.array([0.2, 0.3, 0.4]), 7.5, "QB", [{"round": 1, "kernel_change": 0.1}])
    path = prof.write_profile(tmp_path / "p.json", p)
    raw = json.loads(path.read_text())
    assert set(raw) >= {"ratio", "kernels", "pan_kernel", "shifts", "spectral_weights", "spectral_bias",
                        "log", "sensor", "version"}
    assert raw["ratio"] == 4 and len(raw["kernels"]) == 3 and np.shape(raw["kernels"][0]) == (16, 16)
    assert np.shape(raw["shifts"]) == (3, 2) and isinstance(raw["spectral_bias"], float)
    q = prof.read_profile(path)
    np.testing.assert_allclose(q.kernels, p.kernels, atol=1e-8)
    np.testing.assert_allclose(q.shifts, p.shifts)
    assert q.spectral_bias == 7.5 and q.sensor == "QB" and q.log == p.log
    for bad in ({**raw, "kernels": raw["kernels"][:2]}, {**raw, "shifts": [[5, 0]] * 3},
                {**raw, "pan_kernel": [[1.0]]}, {k_: v for k_, v in raw.items() if k_ != "ratio"}):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(PansharpenError):
            prof.read_profile(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PansharpenError):
        prof.read_profile(tmp_path / "bad.json")


def _known_pair():
    hrms, sensor = synthetic.truth_hrms("ge1_grip_pnn")
    truth = synthetic.KnownDegradation()
    lrms, pan = synthetic.synthesize(hrms, truth)
    return hrms, sensor, truth, lrms, pan


def test_operator_fit_recovers_the_truth_given_the_true_hrms(shared_data):
    """Step (b)'s per-band consistency fit alone (no intensity term, no pull toward the PAN kernel),
    with the alignment network replaced by the true HRMS: it must find the kernels and shifts
    (checks the fitting machinery and its conventions)."""
    from padm_pansharpening.engine.padm import mutual

    hrms, sensor, truth, lrms, pan = _known_pair()
    guess = mutual.initial_profile(pan, lrms, 4, sensor)

    class TrueHrms(torch.nn.Module):  # stands in for PAlignNet: output independent of the offsets
        offset = torch.zeros(4, 2)

        def forward(self, ms, p):
            return torch.tensor(np.moveaxis(hrms, 2, 0)[None], dtype=torch.float32)

        def upsample_dn(self, ms, hw, offset):
            return torch.zeros(1, 4, *hw)

    cfg = mutual.PadmConfig(threads=1, degrade_steps=60, intensity_weight=0.0, reg_band=0.0, reg_init=1e-4,
                            reg_smooth=1e-4)
    run = mutual._Mutual(pan, lrms, 4, sensor, cfg, guess, None, None)
    run.net = TrueHrms()
    run.fit_degradation()
    res = synthetic.score(run.D.to_profile(), guess, truth)
    assert res["kernel_l1_learned"] < 0.2 * res["kernel_l1_guess"], res
    assert res["shift_error_max"] < 0.02, res


def test_coarse_stage_recovers_kernel_shift_and_spectral_response(shared_data):
    """Stage (0), the PAN-intensity equation, from a random start: the common kernel, the shifts
    (within what collinear bands allow) and the spectral weights, without any HRMS estimate."""
    from padm_pansharpening.engine.padm import mutual

    hrms, sensor, truth, lrms, pan = _known_pair()
    guess = mutual.initial_profile(pan, lrms, 4, sensor)
    run = mutual._Mutual(pan, lrms, 4, sensor, mutual.PadmConfig(threads=1, seed=1, init_noise=0.2), guess,
                         None, None)
    out = run.coarse_stage()
    assert out["coarse_intensity_loss"] < 0.05 * out["coarse_intensity_loss_start"], out
    res = synthetic.score(run.D.to_profile(), guess, truth)
    assert res["pan_kernel_l1_learned"] < 0.1 and res["kernel_l1_learned"] < 0.1, res
    assert res["shift_error_max"] < 0.1 and res["weight_rel_error_max"] < 0.1, res
    # a wrong sign of the offsets' move or of the PAN-side shift would not fit: the loss says so
    st = run.istate
    with torch.no_grad():
        good = float(run.intensity.loss(st))
        st.s_bar.neg_()
        assert float(run.intensity.loss(st)) > 10 * good


def test_known_degradation_is_recovered_from_the_mtf_guess(shared_data):
    """GeoEye-1 MS as the HRMS truth, a rotated anisotropic kernel, per-band shifts of up to 0.45 LR
    pixel and a known spectral response: PADM, started from a random perturbation of the MTF guess,
    must halve the kernel error of the guess, find the shifts within 0.1 LR pixel and the spectral
    weights within 10 % (each weight, relative). The bench runs three initialisations."""
    from padm_pansharpening.engine.padm.mutual import PadmConfig

    res = synthetic.known_degradation_check("ge1_grip_pnn", seeds=(0,), config=PadmConfig(threads=1))
    run = res["runs"][0]
    assert run["kernel_l1_learned"] <= 0.5 * run["kernel_l1_guess"], run
    assert run["shift_error_max"] <= 0.1, run
    assert run["weight_rel_error_max"] <= 0.1, run
    assert run["rounds"] >= 2 and run["log"][0]["round"] == 0  # the coarse stage and at least one round
    assert all(e["kernel_change"] >= 0 and e["seconds"] > 0 for e in run["log"])


@pytest.fixture
def padm_cli():
    return cli.main  # the `degradation` command is registered by engine/cli.py


def test_cli_writes_profile_and_rejects_bad_input(padm_cli, tmp_path, capsys):
    scene, _ = datasets.demo_scene(256, seed=3)
    pan, ms = datasets.write_geotiffs(scene, tmp_path)
    out = tmp_path / "profile.json"
    rc = padm_cli(["degradation", "--pan", str(pan), "--ms", str(ms), "--sensor", "GeoEye1", "--out", str(out),
                   "--budget-seconds", "3", "--threads", "1", "--progress", "json"])
    assert rc == 0, capsys.readouterr().err
    p = prof.read_profile(out)
    assert p.ratio == 4 and p.n_bands == 4 and p.sensor == "GeoEye1" and len(p.log) >= 1
    assert all(k.min() >= 0 and abs(k.sum() - 1) < 1e-4 for k in p.kernels)
    assert {"round", "kernel_change", "shift_change", "seconds"} <= set(p.log[0])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["result"]["output"] == str(out)
    # user errors: one line, exit status 2, nothing written
    small, _ = datasets.demo_scene(64, seed=3)
    span, sms = datasets.write_geotiffs(small, tmp_path / "small")
    for args in (["--pan", str(tmp_path / "missing.tif"), "--ms", str(ms)],
                 ["--pan", str(span), "--ms", str(sms)],
                 ["--pan", str(pan), "--ms", str(ms), "--budget-seconds", "0"]):
        never = tmp_path / "never.json"
        assert padm_cli(["degradation", *args, "--out", str(never), "--progress", "none"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert err[-1].startswith("error:") and not never.exists()


# --- scene fine-tuning ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ge1_crop(shared_data, tmp_path_factory):
    """A small real crop (GeoEye-1, 256x256 PAN) as GeoTIFFs."""
    from lab.scenes import load_scene

    scene = load_scene("ge1_grip_pnn")
    folder = tmp_path_factory.mktemp("ge1")
    pan, ms = datasets.write_geotiffs(scene, folder, ms_lr=scene.ms_lr[96:160, 96:160], pan=scene.pan[384:640, 384:640])
    return pan, ms


def test_finetune_writes_a_scene_model_that_fuse_uses(padm_cli, ge1_crop, tmp_path, capfd):
    """A short PADM fine-tune of a real crop: the folder holds the models, the operator and the card;
    its JSON progress ends with the result; fuse --model DIR runs it (without the flip ensemble).
    ``--no-guard``: the scene model is kept whatever the check would say (the check's own verdicts:
    the tests below)."""
    from osgeo import gdal

    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod

    pan, ms = ge1_crop
    out = tmp_path / "scene_model"
    rc = padm_cli(["finetune", "--pan", str(pan), "--ms", str(ms), "--out", str(out), "--sensor", "GeoEye1",
                   "--budget-minutes", "0.5", "--threads", "1", "--progress", "json", "--no-guard"])
    captured = capfd.readouterr()
    assert rc == 0, captured.err
    lines = [json.loads(x) for x in captured.out.strip().splitlines()]
    assert all("progress" in x for x in lines[:-1]) and lines[-1]["result"]["output"] == str(out)
    assert any("PADM" in x["text"] for x in lines[:-1]) and lines[-2]["progress"] == 1.0
    assert {p.name for p in out.iterdir()} == {"model.pt", "model.onnx", "profile.json", "card.json", "card.md"}
    card = json.loads((out / "card.json").read_text())
    assert card["finetune"]["steps"] >= 1 and card["seconds"]["total"] <= 0.5 * 60 + 30
    assert card["padm_log"][0]["round"] == 0 and not card["fixed_mtf"]
    assert set(card["finetune"]["losses_after"]) == {"reduced_x0_l1", "fr_consistency", "fr_spectral", "fr_spatial"}
    assert len(card["operator"]["kernels"]) == 4 and "sigma_major" in card["operator"]["pan_kernel"]
    p = prof.read_profile(out / "profile.json")
    assert p.sensor == "GeoEye1" and p.n_bands == 4
    assert "learned by PADM" in (out / "card.md").read_text()
    method = HFreqDiffMethod(model=out)
    assert method.model_path.name == "model.onnx" and method.ensemble == "none"
    assert "scene_operator" in method.metadata and json.loads(method.metadata["training"])["steps"] >= 1
    # the folder carries its sensor: fuse uses it without --sensor and refuses a contradicting one
    fused = tmp_path / "fused.tif"
    rc = padm_cli(["fuse", "--pan", str(pan), "--ms", str(ms), "--out", str(fused), "--method", "hfreqdiff",
                   "--model", str(out), "--progress", "none"])
    assert rc == 0 and "sensor GeoEye1, carried by the scene model" in capfd.readouterr().err
    ds = gdal.Open(str(fused))
    arr = ds.ReadAsArray()
    assert arr.shape == (4, 256, 256) and arr.std() > 1 and ds.GetMetadataItem("PADM_SENSOR") == "GeoEye1"
    ds = None
    refused = tmp_path / "refused.tif"
    assert padm_cli(["fuse", "--pan", str(pan), "--ms", str(ms), "--out", str(refused), "--method", "hfreqdiff",
                     "--model", str(out), "--sensor", "WV3", "--progress", "none"]) == 2
    err = capfd.readouterr().err
    assert "contradicts the scene model" in err and "GeoEye1" in err and not refused.exists()
    # an existing, non-empty folder is refused: exit status 2, nothing touched
    before = sorted(x.name for x in out.iterdir())
    assert padm_cli(["finetune", "--pan", str(pan), "--ms", str(ms), "--out", str(out), "--progress", "none"]) == 2
    assert "already exists" in capfd.readouterr().err and sorted(x.name for x in out.iterdir()) == before


@pytest.mark.parametrize("where", ["fine-tuning", "writing"])
def test_interrupted_finetune_leaves_nothing(ge1_crop, tmp_path, monkeypatch, where):
    """Cancel during the fine-tuning loop, or Ctrl-C while the model files are being written: no
    model folder and no temporary folder remain."""
    from padm_pansharpening.engine.errors import Cancelled
    from padm_pansharpening.engine.hfreqdiff import export
    from padm_pansharpening.engine.padm import finetune as ft
    from padm_pansharpening.engine.cli.padm import read_central_window

    pan, ms, ratio, sensor, _ = read_central_window(str(ge1_crop[0]), str(ge1_crop[1]), "GeoEye1", 1024)
    out = tmp_path / "models" / "scene"
    cfg = ft.FinetuneConfig(budget_minutes=0.25, threads=1, fixed_mtf=True, reserve_seconds=5)
    calls = {"n": 0}

    def cancel_after_a_few() -> bool:
        calls["n"] += 1
        return where == "fine-tuning" and calls["n"] > 3

    if where == "writing":
        def interrupted_export(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(export, "export_onnx", interrupted_export)
    with pytest.raises(Cancelled if where == "fine-tuning" else KeyboardInterrupt):
        ft.finetune_scene(pan, ms, ratio, sensor, out, cfg, is_cancelled=cancel_after_a_few)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_held_out_cells_are_spread_and_never_trained_on():
    """A quarter of the crop in cells spread over it (one in every row and column of four); the
    full-resolution crops of fine-tuning never touch them, between them every other pixel is
    reachable, and the scoring windows hold them with their margin."""
    from padm_pansharpening.engine.padm.guard import held_out_cells

    held = held_out_cells((1024, 1024))
    assert held.cell == 128 and held.count == 16 and held.pixels().mean() == 0.25
    rows, cols = np.nonzero(held.cells)
    assert np.array_equal(np.bincount(rows), [2] * 8) and np.array_equal(np.bincount(cols), [2] * 8)  # every row and column
    assert held.blocks().shape == (32, 32) and held.blocks().sum() == 16 * 16
    mask = held.pixels()
    corners = held.free_corners(96, 4)
    covered = np.zeros_like(mask)
    for y, x in corners:
        assert not mask[y:y + 96, x:x + 96].any()
        covered[y:y + 96, x:x + 96] = True
    assert np.array_equal(covered, ~mask)
    windowed = np.zeros_like(mask)
    for r0, r1, c0, c1 in held.windows(32):
        windowed[r0:r1, c0:c1] = True
    assert windowed[mask].all() and windowed.mean() < 0.6  # scoring fuses 56 % of the crop
    small = held_out_cells((384, 1000))
    assert small.count == 5 and not small.pixels()[:, 896:].any()
    # under 256 px (small areas, the reduced-resolution protocol's inputs): 64 px cells; under 128 px none
    rr = held_out_cells((140, 560))
    assert rr.cell == 64 and rr.count == 4 and rr.pixels().mean() == 4 * 64 * 64 / (140 * 560)
    assert held_out_cells((128, 128)).count == 1 and held_out_cells((127, 1024)) is None


def test_block_masks_score_the_selected_blocks_only():
    """The masked metrics equal the metrics of the selected part where it is a rectangle of whole blocks."""
    from padm_pansharpening.engine.metrics import _uqi_blocks, q2n

    rng = np.random.default_rng(3)
    a, b = rng.uniform(100, 900, (64, 96, 4)), rng.uniform(100, 900, (64, 96, 4))
    mask = np.zeros((2, 3), bool)
    mask[:, 1:] = True
    assert q2n(a, b, mask=mask) == pytest.approx(q2n(a[:, 32:], b[:, 32:]), abs=1e-12)
    assert _uqi_blocks(a[..., 0], b[..., 0], 32, mask) == pytest.approx(_uqi_blocks(a[:, 32:, 0], b[:, 32:, 0], 32), abs=1e-12)
    assert q2n(a, b, mask=np.ones((2, 3), bool)) == q2n(a, b)


def test_reduced_scale_loss_gives_held_out_cells_no_weight():
    import torch

    from padm_pansharpening.engine.hfreqdiff.objective import x0_loss
    from padm_pansharpening.engine.hfreqdiff.pairs import PatchSampler, TrainingPair
    from padm_pansharpening.engine.padm.guard import held_out_cells

    held = held_out_cells((512, 512))
    rng = np.random.default_rng(0)
    weight = (~held.pixels(4)).astype(np.float32)
    pair = TrainingPair("t", 4, rng.normal(size=(3, 3, 128, 128)).astype(np.float32),
                        rng.normal(size=(2, 128, 128)).astype(np.float32), np.ones(3, np.float32),
                        rng.normal(size=(3, 128, 128)).astype(np.float32), np.zeros((3, 4), np.float32), weight)
    batch = {k: torch.from_numpy(v) for k, v in PatchSampler([pair], 64, 4, subset_prob=0.0, augment=False).sample().items()}
    assert batch["weight"].shape == (4, 1, 64, 64)

    class Echo(torch.nn.Module):  # predicts 0: the loss is the weighted mean |x0|
        def forward(self, x_t, t, band, pan, desc, stats):
            return torch.zeros_like(x_t)

    want = (batch["weight"] * batch["x0"].abs()).sum() / (batch["weight"].sum() * 3)
    assert float(x0_loss(Echo(), batch)) == pytest.approx(float(want), rel=1e-6)
    batch["x0"] = batch["x0"] + 100.0 * (1 - batch["weight"])  # anything on held-out cells: no change
    assert float(x0_loss(Echo(), batch)) == pytest.approx(float(want), rel=1e-6)


def test_a_checkpoint_replaces_the_shipped_model_only_without_losing_spectral_fidelity(tmp_path):
    """The verdict: higher held-out HQNR than the shipped model at every preset AND a D_lambda_K no higher
    than at any of them (a gain bought with spectral distortion lost against the truth on the reduced-
    resolution protocol: lab/reports/criterion_study.md); the best admissible checkpoint is kept."""
    from padm_pansharpening.engine.padm.guard import NeverWorse, held_out_cells
    from padm_pansharpening.engine.sensors import get_sensor

    held = held_out_cells((256, 256))
    guard = NeverWorse(np.zeros((256, 256)), np.zeros((64, 64, 4)), held, 4, get_sensor("GeoEye1"), tmp_path / "m.onnx")
    guard.presets = {"best": {"HQNR": 0.90, "D_lambda_K": 0.020, "D_s": 0.08},
                     "fast": {"HQNR": 0.89, "D_lambda_K": 0.018, "D_s": 0.09}}
    guard.shipped = {**guard.presets["best"], "preset": "best"}

    def check(step, hqnr, d_lambda):
        return {"step": step, "seconds": 1.0, "HQNR": hqnr, "D_lambda_K": d_lambda, "D_s": 0.05}

    spectral_loss = check(10, 0.95, 0.019)  # above the fast preset's 0.018
    assert not guard.admissible(spectral_loss) and guard.check_rank(spectral_loss) == float("-inf")
    verdict = guard.verdict([spectral_loss, check(20, 0.899, 0.010)])
    assert verdict["kept"] == "shipped model" and "spectral" in verdict["reason"]
    assert verdict["best_check"]["step"] == 10  # reported: the best the fine-tune reached
    verdict = guard.verdict([spectral_loss, check(20, 0.91, 0.018), check(30, 0.92, 0.017)])
    assert verdict["kept"] == "scene model" and verdict["best_check"]["step"] == 30
    assert guard.verdict([check(5, None, None)])["kept"] == "shipped model"
    assert guard.verdict([])["kept"] == "shipped model"


def test_guard_keeps_the_shipped_model_when_finetuning_hurts(ge1_crop, tmp_path):
    """Fine-tuning made to hurt (a learning rate 2500x too high): the held-out check keeps the shipped
    model, says so in the card, and the folder's model fuses as the shipped model does."""
    from padm_pansharpening.engine.cli.padm import read_central_window
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.padm import finetune as ft
    from padm_pansharpening.engine.tiling import fuse_array

    pan, ms, ratio, sensor, _ = read_central_window(str(ge1_crop[0]), str(ge1_crop[1]), "GeoEye1", 1024)
    out = tmp_path / "scene"
    cfg = ft.FinetuneConfig(budget_minutes=0.4, threads=2, lr=0.5, warmup_steps=1, reserve_seconds=5)
    card = ft.finetune_scene(pan, ms, ratio, sensor, out, cfg).card
    guard = card["guard"]
    assert guard["kept"] == "shipped model", guard
    assert 1 <= len(guard["checks"]) <= cfg.checks  # along the way, and when the budget ends
    assert all(c["HQNR"] is None or c["HQNR"] < guard["shipped"]["HQNR"] for c in guard["checks"])
    assert set(guard["shipped_presets"]) == {"best", "fast"}  # what each preset gives without fine-tuning
    assert guard["shipped"]["HQNR"] == max(s["HQNR"] for s in guard["shipped_presets"].values())
    card_md = (out / "card.md").read_text()
    assert "Kept: **the shipped model**" in card_md and "fast preset (distilled, one pass)" in card_md
    pan, ms = pan[:128, :128], ms[:32, :32]
    for quality, ensemble in (("best", "flips"), ("fast", "none")):  # each preset runs as without the folder
        kept, shipped = HFreqDiffMethod(model=out, quality=quality), HFreqDiffMethod(quality=quality)
        assert kept.ensemble == shipped.ensemble == ensemble
        assert kept.model_path.name == ("model_fast.onnx" if quality == "fast" else "model.onnx")
        assert kept.metadata["default_steps"] == shipped.metadata["default_steps"]
        a = fuse_array(pan, ms, kept, ratio, sensor)
        b = fuse_array(pan, ms, shipped, ratio, sensor)
        assert np.abs(a - b).max() < 1e-3 * np.abs(b).max(), quality
    # the fast model carries the scene's sensor like the folder's other model
    from padm_pansharpening.engine.model_files import scene_model_sensor
    assert scene_model_sensor(HFreqDiffMethod(model=out, quality="fast").metadata) == sensor.name


def test_a_scene_too_small_for_the_check_is_refused_before_any_work(ge1_crop, tmp_path):
    """Under 128 x 128 PAN px no cell can be held out: one clear error, no folder written (the reduced-
    resolution inputs of 512 px scenes, 128 px, still fine-tune with a 64 px cell held out)."""
    from padm_pansharpening.engine.cli.padm import read_central_window
    from padm_pansharpening.engine.errors import PansharpenError
    from padm_pansharpening.engine.padm import finetune as ft

    pan, ms, ratio, sensor, _ = read_central_window(str(ge1_crop[0]), str(ge1_crop[1]), "GeoEye1", 1024)
    out = tmp_path / "scene"
    with pytest.raises(PansharpenError, match="too small for the never-worse check"):
        ft.finetune_scene(pan[:112, :112], ms[:28, :28], ratio, sensor, out, ft.FinetuneConfig(budget_minutes=0.25))
    assert not out.exists() and not list(tmp_path.iterdir())
