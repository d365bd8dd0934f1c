"""The bench's bookkeeping: which scenes the shipped model saw, and what it runs by default."""

from __future__ import annotations

import json
from pathlib import Path

from lab import bench
from lab.scenes import list_scenes

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MODELS = Path(__file__).resolve().parents[2] / "models"


def test_training_and_held_out_scenes_are_disjoint_shared_scenes():
    config = json.loads((CONFIGS / "hfreqdiff_train_ship.json").read_text())
    train, held_out = set(bench.training_scenes()), set(config["val_scenes"])
    assert train == set(config["train_scenes"]) and train and held_out
    assert train.isdisjoint(held_out)
    known = set(list_scenes())
    if known:  # ../shared/data present
        assert train <= known and held_out <= known


def test_default_methods_are_the_classical_baselines_plus_the_bundled_model():
    methods = bench.default_methods()
    assert methods[:5] == ["exp", "brovey", "gsa", "mtf-glp-hpm", "bdsd-pc"]
    assert ("hfreqdiff" in methods) == (MODELS / "hfreqdiff.onnx").exists()


def test_machine_summary_names_cpu_cores_and_the_gpu_that_worked():
    import os

    from padm_pansharpening.engine.machine import cpu_model, machine_summary

    host = machine_summary()
    assert host.startswith(cpu_model()) and f"{os.cpu_count()} cores" in host
    assert machine_summary("NVIDIA H200") == f"NVIDIA H200 GPU ({host} host)"
