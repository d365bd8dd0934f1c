"""Facts the engine, the CLI and the plugin share, each stated once: where the shipped models
live, which methods exist (with their labels), which sensors can be named."""

from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = PACKAGE_ROOT / "models"
BUNDLED_MODEL_STEM = "hfreqdiff"
MODEL_SUFFIXES = (".onnx", ".pt")  # ONNX Runtime first; torch for fine-tuning (and a GPU only torch sees)

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
METHOD_NAMES: tuple[str, ...] = (HFREQDIFF, *CLASSICAL_METHODS)


def bundled_models() -> list[Path]:
    """The shipped HFreqDiff model files that exist, in the order they are preferred."""
    return [p for p in (MODELS_DIR / f"{BUNDLED_MODEL_STEM}{s}" for s in MODEL_SUFFIXES) if p.is_file()]


def bundled_model(suffix: str) -> Path:
    """The path of the shipped model with this suffix (it may not exist)."""
    return MODELS_DIR / f"{BUNDLED_MODEL_STEM}{suffix}"


def model_files_in(folder: Path) -> list[Path]:
    """Model files of a folder (a fine-tuned model), .onnx first, then .pt."""
    return [f for s in MODEL_SUFFIXES for f in sorted(Path(folder).glob(f"*{s}"))]


def sensor_names() -> list[str]:
    """Sensor names as the CLI, the dock and Processing offer them (the reference toolbox's)."""
    from .sensors import SENSORS

    return [s.name for s in SENSORS.values()]
