"""HFreqDiff as a tile fusion method (engine.methods.FusionMethod).

fit() takes the scene-wide statistics; fuse_tile() builds the conditioning, pads the tile onto
the global 4-pixel grid of the network, draws position-keyed noise and runs the DDIM sampler
(engine.hfreqdiff.diffusion) over a denoiser callable from engine.hfreqdiff.runtime (ONNX Runtime
or torch); the model file is chosen by engine.hfreqdiff.model_files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import PansharpenError
from ..options import DEFAULT_QUALITY, ENSEMBLES, QUALITIES
from ..progress import expected_share, watched_call
from ..sensors import Sensor
from .conditioning import X0_SCALE, SceneStats, build_condition, fit_stats, reconstruct
from .diffusion import Denoiser, ddim_sample, tile_noise
from ..model_files import resolve_model
from .pieces import GRID, NET_RADIUS, NETWORK_BAND_PIXELS, fitted_tile, pieced, round_up
from .rates import CPU_SECONDS_PER_NETWORK_UNIT
from .runtime import onnx_denoiser, torch_denoiser
DEFAULT_STEPS = 1  # measured best against ground truth (models/HFREQDIFF_MODEL_CARD.md, quality vs steps)
MTF_RADIUS = 20  # 41-tap MTF kernels


def upsample_radius(ratio: int) -> int:
    """Support radius (PAN pixels) of engine.degradation.upsample_ms."""
    if ratio & (ratio - 1) == 0:
        return 11 * (ratio - 1)  # interp23tap: 23 taps per doubling
    return 3 * ratio  # Keys cubic: 2 LR pixels plus the phase


def condition_radius(ratio: int) -> int:
    """Support radius of the conditioning: PAN low-pass = MTF filter, decimation, upsampling."""
    return MTF_RADIUS + ratio + upsample_radius(ratio)


def tile_halo(ratio: int) -> int:
    """Halo (PAN px per side) that makes tiled sampling equal to whole-scene sampling."""
    return round_up(condition_radius(ratio) + NET_RADIUS, ratio)


def flip_ensemble(denoiser: Denoiser) -> Denoiser:
    """Geometric self-ensemble: the mean of the x0 predictions on the 4 flips of the input (none,
    vertical, horizontal, both), each flipped back. Tiles stay exact: a tile padded onto the global
    4-pixel grid keeps whole grid cells under a flip."""

    def denoise(x_t: np.ndarray, t: float, cond: dict) -> np.ndarray:
        total = None
        for axes in ((), (-2,), (-1,), (-2, -1)):
            def flip(a: np.ndarray) -> np.ndarray:
                return np.ascontiguousarray(np.flip(a, axes)) if axes else a

            x0 = flip(denoiser(flip(x_t), t, {**cond, "band": flip(cond["band"]), "pan": flip(cond["pan"])}))
            total = x0 if total is None else total + x0
        return total / 4.0

    return denoise


# --- sampling --------------------------------------------------------------------------------

def sample_tile(denoiser: Denoiser, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, stats: SceneStats,
                steps: int, seed: int, origin: tuple[int, int] = (0, 0),
                callback: Optional[Callable[[int, int], None]] = None, margin: int = 0) -> np.ndarray:
    """Fused tile (H, W, B) in DN. The tile is padded (edge) onto the global 4-pixel grid so the
    network's downsampling phase, like the noise, depends on global coordinates only.

    ``margin``: PAN pixels on each side that only condition the rest. The conditioning (MTF low-pass,
    MS upsampling) is computed on the whole tile, the network runs on the tile minus the margin, and
    the margin is returned as the upsampled MS (the caller discards it)."""
    h, w = pan.shape
    cond = build_condition(pan, ms_lr, ratio, stats)
    m = max(0, min(int(margin), (min(h, w) - 1) // 2))
    ms_up = cond["ms_up"]
    hh, ww = h - 2 * m, w - 2 * m
    oy, ox = origin[0] + m, origin[1] + m
    top, left = oy % GRID, ox % GRID
    bottom, right = (-(hh + top)) % GRID, (-(ww + left)) % GRID
    sp = ((top, bottom), (left, right))
    inner = (slice(m, m + hh), slice(m, m + ww))
    band = np.pad(cond["band"][..., inner[0], inner[1]], ((0, 0), (0, 0), (0, 0)) + sp, mode="edge")
    pan_c = np.pad(cond["pan"][..., inner[0], inner[1]], ((0, 0), (0, 0)) + sp, mode="edge")
    noise = tile_noise(seed, ms_lr.shape[2], band.shape[-2:], (oy - top, ox - left))
    x0 = ddim_sample(denoiser, noise, {"band": band, "pan": pan_c, "desc": cond["desc"],
                                       "band_stats": cond["band_stats"]}, steps, callback)
    core = reconstruct(x0[..., top:top + hh, left:left + ww], ms_up[inner], stats)
    if m == 0:
        return core
    out = ms_up.copy()
    out[inner] = core
    return out


class HFreqDiffMethod:
    """Diffusion model of the high-frequency residual (engine.methods.FusionMethod protocol).

    Options: model (file or folder; default the quality preset's bundled model: models/hfreqdiff_fast.onnx
    for fast, models/hfreqdiff.onnx for best; run by torch where only torch can use the GPU), steps
    (DDIM steps; default the model's metadata, else 1), seed, samples (K > 1 averages K seeds and keeps
    their per-pixel spread), quality ("fast": one network pass per step; "best": the model's own
    ensemble, for the shipped model the mean x0 over the 4 flips of the input, 4x the network time),
    ensemble (flips | none: overrides what the quality chooses), device (auto | cpu | cuda),
    backend (auto | onnx | torch).
    ``provider`` tells which runtime/device is actually used.
    """

    name = "hfreqdiff"
    context_aware = True  # fuse_tile takes ``context``: it skips the network on what the tiler discards
    seamless = True  # with the halo, tiles equal the whole scene (to float32 rounding): no feathered overlap

    def __init__(self, model: Optional[str | Path] = None, steps: Optional[int] = None, seed: int = 0,
                 samples: int = 1, device: str = "auto", backend: str = "auto", threads: Optional[int] = None,
                 denoiser: Optional[Denoiser] = None, ensemble: Optional[str] = None,
                 quality: Optional[str] = None, network_pixels: int = NETWORK_BAND_PIXELS):
        """``denoiser`` (a callable (x_t, t, cond) -> x0) replaces model loading, e.g. for a network
        being trained. ``network_pixels``: band-pixels per network call (engine.hfreqdiff.pieces)."""
        if backend not in ("auto", "onnx", "torch"):
            raise PansharpenError(f"Unknown HFreqDiff backend '{backend}': use auto, onnx or torch.")
        if device not in ("auto", "cpu", "cuda"):
            raise PansharpenError(f"Unknown device '{device}': use auto, cpu or cuda.")
        if samples < 1:
            raise PansharpenError(f"samples must be at least 1 (got {samples}).")
        if ensemble is not None and ensemble not in ENSEMBLES:
            raise PansharpenError(f"Unknown ensemble '{ensemble}': use {' or '.join(ENSEMBLES)}.")
        if quality is not None and quality not in QUALITIES:
            raise PansharpenError(f"Unknown quality '{quality}': use {' or '.join(QUALITIES)}.")
        self.quality = quality or DEFAULT_QUALITY
        self.ensemble = ensemble  # None: chosen by the quality preset
        self.network_pixels = int(network_pixels)
        if denoiser is not None:
            self._init_runtime(denoiser, "callable", {}, steps, seed, samples)
            self.model_path = None
            return
        self.model_path, runtime = resolve_model(model, backend, device, quality=self.quality)
        if runtime == "onnx":
            try:
                fn, provider, meta = onnx_denoiser(self.model_path, device, threads)
            except ImportError as exc:
                raise PansharpenError("onnxruntime is not installed: install it (pip install onnxruntime) "
                                      "to run HFreqDiff.") from exc
        else:
            try:
                fn, provider, meta = torch_denoiser(self.model_path, device)
            except ImportError as exc:
                raise PansharpenError(f"torch is needed for the model {self.model_path}: install torch or "
                                      "use the .onnx model.") from exc
        if float(meta.get("x0_scale", X0_SCALE)) != X0_SCALE:
            raise PansharpenError(f"The model {self.model_path} was trained with another residual scale: "
                                  "retrain or export it with this version.")
        self._init_runtime(fn, provider, meta, steps, seed, samples)

    def _init_runtime(self, fn: Denoiser, provider: str, meta: dict, steps: Optional[int], seed: int,
                      samples: int) -> None:
        if self.ensemble is None:
            # best: the model's own ensemble (scene models of PADM fine-tuning learn orientation-dependent
            # shifts: "none"; the shipped model: flips); fast: one pass
            default = meta.get("default_ensemble")
            best = default if default in ENSEMBLES else "flips"
            self.ensemble = best if self.quality == "best" else "none"
        network = self._watched(pieced(fn, self.network_pixels))
        self._denoise = flip_ensemble(network) if self.ensemble == "flips" else network
        self.provider, self.metadata = provider, meta
        # set by the tiler (engine.tiling.fuse_tiles) while it fuses a tile: called with the fraction of
        # the tile done before, during and after each network call; it raises Cancelled to stop
        self.tile_progress: Optional[Callable[[float], None]] = None
        self._calls = [0, 1]  # network calls of this tile: done, total
        self._seconds_per_unit: Optional[float] = None  # measured by the last network call
        self.steps = int(steps if steps is not None else meta.get("default_steps", DEFAULT_STEPS))
        if self.steps < 1:
            raise PansharpenError(f"steps must be at least 1 (got {self.steps}).")
        self.seed, self.samples = int(seed), int(samples)
        self.stats: Optional[SceneStats] = None
        self.last_spread: Optional[np.ndarray] = None

    def _watched(self, network: Denoiser) -> Denoiser:
        """The network, reporting to ``tile_progress`` when it is set: the calls done so far, and while
        a call runs (engine.progress.watched_call), its expected share (engine.progress.expected_share)
        of the time the last call's rate predicts (the CPU's measured rate for the first). A cancel
        raised there stops the call (ONNX Runtime: the denoiser's abort)."""
        abort = getattr(network, "abort", None)

        def denoise(x_t: np.ndarray, t: float, cond: dict) -> np.ndarray:
            report = self.tile_progress
            if report is None:
                return network(x_t, t, cond)
            done, total = self._calls
            units = x_t.size / 1e6  # band-megapixels (engine.hfreqdiff.cost)
            expected = units * (self._seconds_per_unit or CPU_SECONDS_PER_NETWORK_UNIT)
            report(done / total)
            start = time.monotonic()
            x0 = watched_call(lambda: network(x_t, t, cond),
                              lambda elapsed: report((done + expected_share(elapsed, expected)) / total), abort)
            self._seconds_per_unit = (time.monotonic() - start) / units
            self._calls = [done + 1, total]
            report((done + 1) / total)
            return x0

        return denoise

    def halo(self, ratio: int) -> int:
        return tile_halo(ratio)

    def fitted_tile(self, tile: int, bands: int, ratio: int) -> int:
        """The tile side to plan for ``tile`` asked: no larger than one network piece (memory)."""
        return fitted_tile(tile, bands, ratio, self.network_pixels)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[tuple[np.ndarray, np.ndarray]] = None) -> None:
        """Scene statistics; with ``valid`` (nodata in the sample, in-filled) from valid pixels only."""
        _check_shapes(pan, ms_lr, ratio)
        self.stats = fit_stats(pan, ms_lr, ratio, sensor, valid)

    def _draws(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, origin: tuple[int, int],
               context: int = 0) -> list[np.ndarray]:
        """The K samples of a tile, (H, W, B) each in DN. ``context``: PAN px on each side that the
        caller discards; beyond the network's receptive field (NET_RADIUS) they only condition."""
        if self.stats is None:
            raise RuntimeError("HFreqDiffMethod.fit must be called before fuse_tile")
        _check_shapes(pan, ms_lr, ratio)
        if ms_lr.shape[2] != len(self.stats.ms_scale):
            raise PansharpenError(f"The tile has {ms_lr.shape[2]} bands but the method was fitted on "
                                  f"{len(self.stats.ms_scale)}: fit it on the same MS.")
        margin = max(0, context - NET_RADIUS)
        self._calls = [0, self.samples * self.steps * (4 if self.ensemble == "flips" else 1)]
        return [sample_tile(self._denoise, pan, ms_lr, ratio, self.stats, self.steps, self.seed + k, origin,
                            margin=margin) for k in range(self.samples)]

    def fuse_tile_with_spread(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, origin: tuple[int, int],
                              context: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(mean over the K samples, per-pixel standard deviation), both (H, W, B) in DN."""
        stack = np.stack(self._draws(pan, ms_lr, ratio, origin, context))
        return stack.mean(0), stack.std(0)

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, origin: tuple[int, int],
                  context: int = 0) -> np.ndarray:
        if self.samples == 1:  # no spread to compute
            self.last_spread = None
            return self._draws(pan, ms_lr, ratio, origin, context)[0]
        mean, self.last_spread = self.fuse_tile_with_spread(pan, ms_lr, ratio, origin, context)
        return mean

    def describe(self) -> dict:
        return {"model": str(self.model_path), "provider": self.provider, "steps": self.steps,
                "seed": self.seed, "samples": self.samples, "quality": self.quality, "ensemble": self.ensemble,
                "trained": json.loads(self.metadata.get("training", "{}") or "{}")}


def _check_shapes(pan: np.ndarray, ms_lr: np.ndarray, ratio: int) -> None:
    if pan.ndim != 2 or ms_lr.ndim != 3:
        raise ValueError(f"expected pan (H, W) and ms_lr (h, w, B), got {pan.shape} and {ms_lr.shape}")
    if pan.shape != (ms_lr.shape[0] * ratio, ms_lr.shape[1] * ratio):
        raise ValueError(f"pan {pan.shape} is not ms_lr {ms_lr.shape[:2]} times the ratio {ratio}")
    if not 3 <= ms_lr.shape[2] <= 8:
        raise PansharpenError(f"HFreqDiff serves 3 to 8 MS bands, the MS has {ms_lr.shape[2]}: "
                              "select 3-8 bands or use a classical method.")
