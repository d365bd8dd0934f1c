"""Scene evaluation: the Wald-protocol (reduced resolution) and full-resolution tables of methods.

Reduced resolution: the scene's MS and PAN are degraded by the ratio (engine.degradation), each
method fuses the degraded pair, and the result is compared with the original MS. Full resolution:
each method fuses the original pair and is scored without reference (D_lambda_K, D_s, HQNR, QNR).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .degradation import wald_degrade
from .methods import FusionMethod, get_method
from .metrics import full_resolution_metrics, reduced_resolution_metrics
from .progress import ProgressFn, silent
from .sensors import Sensor

RR_CROP = 21  # border cut of the reduced-resolution metrics (toolbox convention)
RR_KEYS = ("Q2n", "Q", "SAM", "ERGAS", "SCC", "PSNR", "SSIM")
FR_KEYS = ("D_lambda_K", "D_s", "HQNR", "QNR")
HIGHER_IS_BETTER = {"Q2n": True, "Q": True, "SAM": False, "ERGAS": False, "SCC": True, "PSNR": True,
                    "SSIM": True, "D_lambda_K": False, "D_s": False, "HQNR": True, "QNR": True}


def fuse_in_memory(method: FusionMethod, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor) -> np.ndarray:
    """Fit and fuse a whole (small) scene held in memory, as one tile."""
    method.fit(pan, ms_lr, ratio, sensor)
    return method.fuse_tile(pan, ms_lr, ratio, (0, 0))


def evaluate_methods(
    pan: np.ndarray,
    ms_lr: np.ndarray,
    ratio: int,
    sensor: Sensor,
    bits: int,
    methods: Sequence[str | FusionMethod],
    progress: ProgressFn = silent,
    method_factory: Callable[[str], FusionMethod] = get_method,
    full_resolution: bool = True,
) -> dict[str, dict[str, dict[str, float]]]:
    """{"RR": {method: metrics}, "FR": {method: metrics}, "seconds": {method: s}} for one scene.

    The scene is cropped so the MS is a multiple of the ratio (the Wald-degraded pair then aligns);
    reduced-resolution metrics are skipped (with a note) when the MS is too small for the 21-pixel
    border cut and a 32-pixel Q2n block.
    """
    h, w = (ms_lr.shape[0] // ratio) * ratio, (ms_lr.shape[1] // ratio) * ratio
    ms_lr, pan = ms_lr[:h, :w], pan[: h * ratio, : w * ratio]
    reduced = min(h, w) >= 2 * RR_CROP + 32
    ms_lr_lr, pan_lr = wald_degrade(ms_lr, pan, sensor, ratio) if reduced else (None, None)
    out: dict = {"RR": {}, "FR": {}, "seconds": {}, "notes": []}
    if not reduced:
        out["notes"].append(f"MS {h}x{w} is too small for reduced-resolution metrics (21 px cut + 32 px blocks)")
    steps = len(methods) * (int(reduced) + int(full_resolution))
    done = 0
    for spec in methods:
        method = method_factory(spec) if isinstance(spec, str) else spec
        name = method.name
        t0 = time.perf_counter()
        if reduced:
            fused_rr = fuse_in_memory(method, pan_lr, ms_lr_lr, ratio, sensor)
            out["RR"][name] = reduced_resolution_metrics(fused_rr, ms_lr, ratio, bits, crop=RR_CROP)
            done += 1
            progress(done / steps, f"{name} reduced resolution")
        if full_resolution:
            fused_fr = fuse_in_memory(method, pan, ms_lr, ratio, sensor)
            out["FR"][name] = full_resolution_metrics(fused_fr, ms_lr, pan, sensor, ratio)
            done += 1
            progress(done / steps, f"{name} full resolution")
        out["seconds"][name] = {"total": time.perf_counter() - t0}
    return out


def best_method(table: dict[str, dict[str, float]], key: str, exclude: Optional[Sequence[str]] = None) -> str:
    names = [m for m in table if not exclude or m not in exclude]
    sign = 1 if HIGHER_IS_BETTER[key] else -1
    return max(names, key=lambda m: sign * table[m][key])


# Not ranked at full resolution: EXP injects no PAN detail, so its fused image degrades back to the
# MS almost exactly — D_lambda_K is trivially low and HQNR/QNR reward the absence of sharpening.
FR_UNRANKED = {"EXP": "EXP (the MS interpolated, no PAN detail) is not ranked at full resolution: injecting no "
                      "detail keeps its spectral distortion D_lambda_K trivially low, which lifts HQNR and QNR "
                      "without any sharpening; its row is the no-fusion reference, not a competitor."}


def markdown_table(table: dict[str, dict[str, float]], keys: Sequence[str], title: str = "",
                   unranked: Optional[dict[str, str]] = None) -> str:
    """Methods as rows, metrics as columns; the best value per column in bold. ``unranked``: methods
    left out of 'best', each with a footnote (default: FR_UNRANKED for a full-resolution table)."""
    if not table:
        return ""
    keys = [k for k in keys if all(k in row for row in table.values())]
    if unranked is None:
        unranked = FR_UNRANKED if keys and set(keys) <= set(FR_KEYS) else {}
    unranked = {name: why for name, why in unranked.items() if name in table}
    if len(unranked) == len(table):
        unranked = {}
    best = {k: best_method(table, k, exclude=list(unranked)) for k in keys}
    lines = [f"| {title or 'method'} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, row in table.items():
        cells = []
        for k in keys:
            v = f"{row[k]:.4f}" if abs(row[k]) < 10 else f"{row[k]:.2f}"
            cells.append(f"**{v}**" if best[k] == name and len(table) > 1 else v)
        lines.append(f"| {name}{' (not ranked)' if name in unranked else ''} | " + " | ".join(cells) + " |")
    if unranked and len(table) > 1:
        lines += [""] + [f"Note: {why}" for why in unranked.values()]
    return "\n".join(lines)


@dataclass
class FileEvaluation:
    """The metrics of one fused file: ``results`` holds "FR" (always) and "RR" (with a reference)."""

    fused: str
    pan: str
    ms: str
    reference: Optional[str]
    sensor: str
    ratio: int
    bits: int
    notes: list[str]
    results: dict[str, dict[str, float]]

    def tables(self) -> list[str]:
        """Markdown tables of the metrics, full resolution first."""
        name = Path(self.fused).name
        out = [markdown_table({name: self.results["FR"]}, FR_KEYS, "full resolution")]
        if "RR" in self.results:
            out.append(markdown_table({name: self.results["RR"]}, RR_KEYS, "reduced resolution"))
        return out

    def as_json(self) -> dict:
        return {"fused": self.fused, "pan": self.pan, "ms": self.ms, "reference": self.reference,
                "sensor": self.sensor, "ratio": self.ratio, "bits": self.bits, "notes": self.notes, **self.results}

    def as_markdown(self) -> str:
        return (f"# Pansharpening quality of {Path(self.fused).name}\n\nPAN {self.pan}, MS {self.ms}, sensor "
                f"{self.sensor}, ratio {self.ratio}\n\n" + "\n\n".join(self.tables()) + "\n")

    def write_report(self, path: str | os.PathLike) -> Path:
        """JSON for .json, Markdown otherwise; written under a temporary name and renamed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.as_json(), indent=1) if path.suffix.lower() == ".json" else self.as_markdown()
        partial = path.with_name(f".{path.name}.part")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        return path


def evaluate_files(pan: str | os.PathLike, ms: str | os.PathLike, fused: str | os.PathLike,
                   reference: Optional[str | os.PathLike] = None, sensor: Optional[str] = None,
                   progress: ProgressFn = silent) -> FileEvaluation:
    """Score any fused raster against the PAN/MS it was made from: full-resolution metrics always,
    reduced-resolution metrics when a ground-truth ``reference`` is given (CLI `evaluate` and the
    Processing algorithm both call this)."""
    from .raster.evaluation_inputs import read_for_evaluation

    progress(0.0, "reading the rasters")
    data = read_for_evaluation(pan, ms, fused, reference, sensor)
    progress(0.2, "full-resolution metrics")
    results: dict[str, dict[str, float]] = {
        "FR": full_resolution_metrics(data.fused, data.ms_lr, data.pan, data.sensor, data.ratio)}
    if data.reference is not None:
        progress(0.7, "reduced-resolution metrics")
        results["RR"] = reduced_resolution_metrics(data.fused, data.reference, data.ratio, data.bits)
    progress(1.0, "done")
    return FileEvaluation(str(fused), str(pan), str(ms), str(reference) if reference else None, data.sensor.name,
                          data.ratio, data.bits, list(data.notes), results)
