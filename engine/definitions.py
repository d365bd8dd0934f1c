"""Facts the engine, the CLI and the plugin share, each stated once: where the shipped models
live, which methods exist (with their labels), which sensors can be named."""

from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = PACKAGE_ROOT / "models"
# The shipped weights: ONNX Runtime runs them; torch builds its network from them (fine-tuning, a GPU
# only torch sees; engine.hfreqdiff.onnx_weights). The model of the `best` preset (run with its flip
# ensemble) is also what fine-tuning starts from; the `fast` preset's is the same network distilled
# from that ensemble (lab/distill.py), run once.
BUNDLED_MODEL_NAME = "hfreqdiff.onnx"
FAST_MODEL_NAME = "hfreqdiff_fast.onnx"
MODEL_SUFFIXES = (".onnx", ".pt")  # model files a user may give or a model folder holds, .onnx first
# A model folder's file for the fast preset ends its name so (model_fast.onnx: a PADM folder that kept
# the shipped models); the folder's other files serve best, and fast where it has no such file.
FAST_MODEL_STEM = "_fast"

HFREQDIFF = "hfreqdiff"
# Engine method names of the classical baselines, simplest first (the reference toolbox's order), with
# one-line labels.
CLASSICAL_METHODS: dict[str, str] = {
    "exp": "EXP: MS interpolated with the 23-tap filter, no PAN detail (a baseline)",
    "brovey": "Brovey: band ratio with a regression-weighted intensity (GDAL's gdal_pansharpen)",
    "gsa": "GSA: adaptive Gram-Schmidt component substitution",
    "mtf-glp-hpm": "MTF-GLP-HPM: MTF-matched Laplacian pyramid with high-pass modulation",
    "bdsd-pc": "BDSD-PC: band-dependent spatial detail, physically constrained",
    "bt-h": "BT-H: Brovey transform with haze correction",
}
DEFAULT_CLASSICAL = "gsa"
# minutes: the default budget of a PADM fine-tuning (all of it: operator, fine-tuning, checks, export);
# a 1024 x 1024 PAN crop fits on 2 CPU cores; against 8 min it did as well on 3 of 4 scenes and 0.003 HQNR
# lower on WorldView-2 (lab/reports/padm_budget.md, measured before the D_lambda_K rule)
DEFAULT_FINETUNE_MINUTES = 3
METHOD_NAMES: tuple[str, ...] = (HFREQDIFF, *CLASSICAL_METHODS)


def bundled_models(quality: str = "best") -> list[Path]:
    """The shipped HFreqDiff model of a quality preset, if it exists (a list: empty where it is
    missing); `fast` falls back to the `best` model where its own is missing."""
    return [p for p in (bundled_model(quality), bundled_model()) if p.is_file()][:1]


def bundled_model(quality: str = "best") -> Path:
    """The path of the shipped model of a quality preset (it may not exist)."""
    return MODELS_DIR / (FAST_MODEL_NAME if quality == "fast" else BUNDLED_MODEL_NAME)


def model_files_in(folder: Path, quality: str = "best", suffixes: tuple[str, ...] = MODEL_SUFFIXES) -> list[Path]:
    """Model files of a folder (a fine-tuned model) in the order a run of the quality preset takes
    them: its own files first (FAST_MODEL_STEM), then by suffix (.onnx first, then .pt)."""
    files = [f for s in suffixes for f in sorted(Path(folder).glob(f"*{s}"))]
    fast = [f for f in files if f.stem.endswith(FAST_MODEL_STEM)]
    rest = [f for f in files if f not in fast]
    return fast + rest if quality == "fast" else rest + fast


def sensor_names() -> list[str]:
    """Sensor names as the CLI, the dock and Processing offer them (the reference toolbox's)."""
    from .sensors import SENSORS

    return [s.name for s in SENSORS.values()]
