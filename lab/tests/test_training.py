"""The lab's HFreqDiff tooling: training pairs, band-statistics initialisation, the training driver's
helpers and card, the speed measurement and the model comparison."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from padm_pansharpening.engine.hfreqdiff import conditioning
from padm_pansharpening.engine.hfreqdiff.method import sample_tile
from padm_pansharpening.engine.hfreqdiff.runtime import torch_denoiser_of
from padm_pansharpening.engine.sensors import get_sensor

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


from padm_pansharpening.tests.hfreqdiff_helpers import net, onnx_path  # noqa: E402,F401 - fixtures
from padm_pansharpening.tests.hfreqdiff_helpers import synthetic_scene as _scene  # noqa: E402


def test_cross_ratio_pairs_put_the_pan_detail_on_the_target_grid():
    """Ratio-2 pairs from a ratio-4 scene: the target is the scene's MS, and the PAN degraded onto
    its grid carries the target's detail (a 2-pixel shift of the PAN detail decorrelates it)."""
    from lab.training_pairs import cross_ratio_pairs

    name = "vhr4b_zhengzhou_geotiff"
    assert cross_ratio_pairs(name, 4) == []  # the scene's own ratio: the ordinary Wald pairs
    pairs = cross_ratio_pairs(name, 2)
    assert [p.name for p in pairs] == [f"{name}/r2/imresize", f"{name}/r2/mtf"]
    for p in pairs:
        assert p.ratio == 2 and p.x0.shape == (4, 200, 200) and p.pan.shape == (2, 200, 200)
        detail, target = p.pan[1].ravel(), p.x0.mean(axis=0).ravel()
        assert np.corrcoef(detail, target)[0, 1] > 0.6
        assert abs(np.corrcoef(np.roll(p.pan[1], 2, axis=1).ravel(), target)[0, 1]) < 0.2


@pytest.fixture(scope="module")
def stats_net(net):
    """A band-statistics network initialised from ``net`` (train.initialised_from)."""
    from padm_pansharpening.engine.hfreqdiff.network import build_network
    from lab.train import initialised_from

    return initialised_from(build_network({**net.config, "band_stats": True}), net, Path("net.pt")).eval()


def test_band_statistics_start_neutral_then_steer_the_output(net, stats_net):
    from padm_pansharpening.engine.hfreqdiff.network import build_network
    from lab.train import initialised_from

    pan, ms = _scene(4, 12, 10, 4, seed=2)
    st = conditioning.fit_stats(pan, ms, 4, get_sensor("GeoEye1"))
    plain = sample_tile(torch_denoiser_of(net), pan, ms, 4, st, 2, seed=0)
    assert np.array_equal(plain, sample_tile(torch_denoiser_of(stats_net), pan, ms, 4, st, 2, seed=0))
    steered = copy.deepcopy(stats_net)
    with torch.no_grad():
        for p in steered.embed.stats.parameters():
            p.add_(0.5 * torch.randn_like(p))
    out = sample_tile(torch_denoiser_of(steered), pan, ms, 4, st, 2, seed=0)
    assert np.abs(out - plain).max() > 1e-2  # the statistics are used
    with pytest.raises(ValueError):  # another architecture is refused
        initialised_from(build_network({**net.config, "emb": 8, "band_stats": True}), net, Path("net.pt"))
    with pytest.raises(ValueError):
        steered(*[torch.zeros(s) for s in ((1, 2, 8, 8), (1,), (1, 2, 3, 8, 8), (1, 2, 8, 8), (1, 2))])


def test_train_help():
    r = subprocess.run([sys.executable, "-m", "lab.train", "--help"], cwd=Path(__file__).resolve().parents[2],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--config" in r.stdout


def test_model_card_names_the_device_extra_pairs_and_scenes_without_q2n():
    from lab.train import model_card

    tiny = {"wv3_zpnn_example": {"SAM": 10.7, "ERGAS": 9.1, "PSNR": 21.2, "seconds": 1.0}}
    report = {"default_steps": 1, "val_scenes": ["wv3_zpnn_example"], "baselines": {"gsa": tiny},
              "quality_vs_steps": {"1": tiny}, "seed1": tiny, "parameters": 1000, "net": {}, "x0_scale": 2.0,
              "train_scenes": ["wv3_hpf_geotiff"], "demo_seeds": [], "patch": 96, "batch": 32,
              "steps_trained": 10, "train_minutes": 0.5, "machine": "some host", "devices": ["cuda"],
              "threads": 8, "val_pad_lr": 16}
    from lab.train_config import TrainConfig

    base = {"train_scenes": ["wv3_hpf_geotiff"], "val_scenes": ["wv3_zpnn_example"], "out_onnx": "m.onnx",
            "out_pt": "m.pt"}
    cfg = TrainConfig.from_dict({**base, "extra_ratios": [2], "degradation_jitter": [[1.0, 0.6]]})
    card = model_card(report, cfg)
    assert "trained on the GPU" in card and "no held-out scene is large enough for Q2n" in card
    assert "ratio-2 pairs" in card and "MS x1 / PAN x0.6" in card
    card_cpu = model_card({**report, "devices": ["cpu"]}, TrainConfig.from_dict(base))
    assert "8 torch threads" in card_cpu and "ratio-2" not in card_cpu


def test_training_device_and_prefetched_batches():
    from padm_pansharpening.engine.hfreqdiff.pairs import PatchSampler, TrainingPair
    from lab.train import prefetched, training_device

    assert training_device("cpu") == "cpu"
    assert training_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        training_device("tpu")
    rng = np.random.default_rng(0)
    pair = TrainingPair("x", 4, rng.standard_normal((4, 3, 32, 32)).astype(np.float32),
                        rng.standard_normal((2, 32, 32)).astype(np.float32), np.linspace(0, 1, 4).astype(np.float32),
                        rng.standard_normal((4, 32, 32)).astype(np.float32), rng.random((4, 2)).astype(np.float32))
    direct = prefetched(PatchSampler([pair], 16, 2, seed=5).sample, 0)
    ahead = prefetched(PatchSampler([pair], 16, 2, seed=5).sample, 3)  # one producer thread: same order
    for _ in range(4):
        a, b = next(direct), next(ahead)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_speed_measure_in_memory(onnx_path):
    import shutil

    import onnxruntime as ort

    from padm_pansharpening.engine.errors import PansharpenError
    from lab.speed import measure

    models = onnx_path.parent / "models_for_speed"  # measure() reads <models>/hfreqdiff.onnx
    models.mkdir(exist_ok=True)
    shutil.copy(onnx_path, models / "hfreqdiff.onnx")
    r = measure(128, "onnx", "cpu", tile=64, ensemble="none", models=models)
    assert r["provider"] == "onnxruntime:CPUExecutionProvider" and r["default_steps"] == 3
    assert set(r["s_per_MP_by_steps"]) == {1, 3} and all(v > 0 for v in r["s_per_MP_by_steps"].values())
    assert r["s_per_MP_default_run"] == r["s_per_MP_by_steps"][3]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(PansharpenError, match="CUDAExecutionProvider"):
            measure(128, "onnx", "cuda", tile=64, ensemble="none", models=models)


def test_compare_models_on_a_scene(onnx_path, tmp_path, capsys):
    from lab.compare import main

    out = tmp_path / "cmp.json"
    assert main(["--models", str(onnx_path), "--scenes", "wv3_zpnn_example", "--classical", "gsa",
                 "--ensemble", "none", "--json", str(out)]) == 0
    table = json.loads(out.read_text())["wv3_zpnn_example"]
    assert set(table["FR"]) == {"GSA", onnx_path.stem} and 0 < table["FR"][onnx_path.stem]["HQNR"] <= 1
    assert main(["--models", str(tmp_path / "none.onnx"), "--scenes", "wv3_zpnn_example"]) == 2
    assert main(["--models", str(onnx_path), "--scenes", "no_such_scene"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)




def test_every_training_config_loads_and_a_typo_is_refused(tmp_path):
    from lab.train import main
    from lab.train_config import TrainConfig

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json"))
    assert len(configs) >= 10
    for path in configs:
        cfg = TrainConfig.from_json(path)
        assert cfg.train_scenes and not set(cfg.train_scenes) & set(cfg.val_scenes), path.name
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train_scenes": ["a"], "val_scenes": ["b"], "lr_mn": 1e-3}))
    with pytest.raises(ValueError, match="lr_mn"):
        TrainConfig.from_json(bad)
    assert main(["--config", str(bad)]) == 2
