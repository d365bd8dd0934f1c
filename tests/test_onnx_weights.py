"""One weights file (issue 16): the torch HFreqDiff network built from an .onnx model equals the one
saved by torch, the shipped .onnx rebuilds its network, and fine-tuning starts from it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from padm_pansharpening.engine.errors import PansharpenError

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
torch.set_num_threads(1)

from padm_pansharpening.engine.definitions import bundled_model  # noqa: E402
from padm_pansharpening.engine.hfreqdiff.conditioning import BAND_COND_CHANNELS, BAND_STATS, PAN_COND_CHANNELS  # noqa: E402
from padm_pansharpening.engine.hfreqdiff.export import export_onnx, model_metadata, onnx_parity, save_torch  # noqa: E402
from padm_pansharpening.engine.hfreqdiff.network import build_network  # noqa: E402
from padm_pansharpening.engine.hfreqdiff.onnx_weights import (NET_CONFIG_KEY, infer_net_config,  # noqa: E402
                                                              read_onnx, torch_from_onnx)
from padm_pansharpening.engine.hfreqdiff.runtime import load_torch_model  # noqa: E402

SMALL = {"channels": [8, 16, 16], "cond_channels": [8, 8, 16], "emb": 16, "band_stats": True}


def _inputs(n: int = 2, b: int = 4, h: int = 20, w: int = 24, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, b, h, w)), rng.random(n), rng.standard_normal((n, b, BAND_COND_CHANNELS, h, w)),
              rng.standard_normal((n, PAN_COND_CHANNELS, h, w)), rng.random((n, b)),
              rng.uniform(-1.0, 2.0, (n, b, BAND_STATS))]
    return [torch.from_numpy(a.astype(np.float32)) for a in arrays]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[object, Path, Path]:
    """A small network with every weight moved off its initial value (the zero-initialised layers
    included) and two equal tensors (the exporter stores those once), saved as .pt and .onnx."""
    torch.manual_seed(0)
    net = build_network(SMALL)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
        net.skip.bias.copy_(net.head.bias)
    folder = tmp_path_factory.mktemp("weights")
    meta = model_metadata({"default_steps": "3"})
    return net.eval(), save_torch(net, folder / "m.pt", meta), export_onnx(net, folder / "m.onnx", meta)


def test_torch_network_from_onnx_equals_the_one_saved_by_torch(saved):
    net, pt, onnx_file = saved
    tensors, meta = read_onnx(onnx_file)
    assert json.loads(meta[NET_CONFIG_KEY]) == SMALL
    assert "skip.bias" in tensors and "skip.bias" not in _initialiser_names(onnx_file)  # stored once, aliased
    from_onnx, onnx_meta = torch_from_onnx(onnx_file)
    from_pt, pt_meta = load_torch_model(pt)
    assert from_onnx.config == from_pt.config == net.config and onnx_meta == pt_meta
    a, b = from_onnx.state_dict(), from_pt.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = _inputs()
    with torch.no_grad():
        diff = (from_onnx(*x) - from_pt(*x)).abs().max().item()
    assert diff <= 1e-6, diff
    assert load_torch_model(onnx_file)[0].config == SMALL  # the runtime's loader takes the .onnx too


def _initialiser_names(path: Path) -> set[str]:
    import onnx

    return {t.name for t in onnx.load(str(path)).graph.initializer}


def test_an_onnx_file_without_the_network_config_still_builds(saved, tmp_path):
    """Files exported before ``net_config`` was written: the config comes from the weight shapes."""
    import onnx

    net, _, onnx_file = saved
    model = onnx.load(str(onnx_file))
    kept = [p for p in model.metadata_props if p.key != NET_CONFIG_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    rebuilt, meta = torch_from_onnx(old)
    assert rebuilt.config == SMALL and NET_CONFIG_KEY not in meta
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in rebuilt.state_dict().items())


def test_the_shipped_onnx_rebuilds_its_torch_network():
    """The one shipped weights file: its config (metadata) agrees with its weight shapes, and the
    rebuilt torch network computes what ONNX Runtime computes from the same file."""
    path = bundled_model()
    tensors, meta = read_onnx(path)
    assert json.loads(meta[NET_CONFIG_KEY]) == infer_net_config(tensors)
    net, net_meta = torch_from_onnx(path)
    assert sum(p.numel() for p in net.parameters()) == 455_908  # models/HFREQDIFF_MODEL_CARD.md
    assert net_meta["format"] == "hfreqdiff-v1" and "training" in net_meta
    assert onnx_parity(net, path) < 1e-5


def test_a_file_that_is_not_an_hfreqdiff_model_is_one_line(tmp_path):
    other = tmp_path / "other.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(3, 2), (torch.randn(1, 3),), str(other), dynamo=False)
    with pytest.raises(PansharpenError, match="Cannot build the torch network") as err:
        torch_from_onnx(other)
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PansharpenError, match="Cannot load the model"):
        torch_from_onnx(bad)


def test_finetuning_starts_from_the_shipped_onnx():
    """A few fine-tuning steps from the bundled .onnx (no .pt anywhere): the base metadata is the
    model's, and the weights move a little from the shipped ones."""
    from padm_pansharpening.engine.padm.finetune import FinetuneConfig, finetune_network
    from padm_pansharpening.engine.padm.mutual import initial_profile
    from padm_pansharpening.engine.sensors import get_sensor
    from padm_pansharpening.tests.hfreqdiff_helpers import synthetic_scene

    pan, ms = synthetic_scene(4, 32, 32, 4, seed=3)
    sensor = get_sensor("GeoEye1")
    profile = initial_profile(pan, ms, 4, sensor)
    cfg = FinetuneConfig(max_steps=3, threads=1, patch=32, batch=2, fr_patch=64, fr_batch=1)
    net, base_meta, record = finetune_network(pan, ms, 4, sensor, profile, cfg, 120.0, bundled_model(),
                                              lambda f, t: None, lambda: False)
    shipped, shipped_meta = torch_from_onnx(bundled_model())
    assert record["steps"] == 3 and base_meta == shipped_meta
    start, end = shipped.state_dict(), net.state_dict()
    moved = max((end[k] - start[k]).abs().max().item() for k, _ in shipped.named_parameters())
    scale = max(start[k].abs().max().item() for k, _ in shipped.named_parameters())
    assert 0 < moved < 0.01 * scale, (moved, scale)


def test_modulation_only_finetuning_moves_the_band_aware_parts_only():
    """trainable="modulation" (with the L2-SP anchor on): the embedding, FiLM, BAMB gains and band mix
    move, every other weight stays the shipped one."""
    from padm_pansharpening.engine.padm.finetune import MODULATION, FinetuneConfig, finetune_network
    from padm_pansharpening.engine.padm.mutual import initial_profile
    from padm_pansharpening.engine.sensors import get_sensor
    from padm_pansharpening.tests.hfreqdiff_helpers import synthetic_scene

    pan, ms = synthetic_scene(4, 32, 32, 4, seed=3)
    sensor = get_sensor("GeoEye1")
    cfg = FinetuneConfig(max_steps=3, threads=1, patch=32, batch=2, fr_patch=64, fr_batch=1, trainable="modulation",
                         anchor=1.0)
    net, _, record = finetune_network(pan, ms, 4, sensor, initial_profile(pan, ms, 4, sensor), cfg, 120.0,
                                      bundled_model(), lambda f, t: None, lambda: False)
    start, end = torch_from_onnx(bundled_model())[0].state_dict(), net.state_dict()
    names = [k for k, _ in net.named_parameters()]
    band_aware = [k for k in names if any(m in k for m in MODULATION)]
    assert 0 < len(band_aware) < len(names) and record["steps"] == 3
    assert all(torch.equal(end[k], start[k]) for k in names if k not in band_aware)
    assert any(not torch.equal(end[k], start[k]) for k in band_aware)
