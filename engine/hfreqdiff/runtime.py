"""Denoiser backends of HFreqDiff: an ONNX Runtime session (CUDA when onnxruntime-gpu sees a GPU,
else CPU) or the torch module, both as the plain callable ``(x_t, t, condition) -> x0`` that the
sampler (engine.hfreqdiff.diffusion) drives, so the two paths cannot drift apart. The ONNX Runtime
callable also has ``abort()``, which ends its calls in progress (a cancel within one operator)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import Cancelled, PansharpenError
from ..machine import inference_threads
from .diffusion import Denoiser

INPUT_NAMES = ("x_t", "t", "band_cond", "pan_cond", "desc")
STATS_INPUT = "band_stats"  # extra input of the models built with band statistics


def input_names(uses_band_stats: bool) -> tuple[str, ...]:
    return INPUT_NAMES + ((STATS_INPUT,) if uses_band_stats else ())


def _feeds(x_t: np.ndarray, t: float, cond: dict, uses_band_stats: bool = False) -> dict:
    n = x_t.shape[0]
    feeds = {"x_t": np.ascontiguousarray(x_t, np.float32), "t": np.full((n,), t, np.float32),
             "band_cond": cond["band"], "pan_cond": cond["pan"], "desc": cond["desc"]}
    if uses_band_stats:
        feeds[STATS_INPUT] = cond["band_stats"]
    return feeds


def _preload_cuda_libraries(ort) -> None:
    """Let onnxruntime-gpu find CUDA and cuDNN where pip put them (torch's or the nvidia-* wheels)
    without LD_LIBRARY_PATH: its own preload_dlls (ORT >= 1.21). Best effort: if the libraries
    cannot be loaded the session falls back to the CPU provider, and the provider that ran is
    reported."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception:  # noqa: BLE001 - a failed preload only means no CUDA, reported as the provider
        pass


def onnx_denoiser(path: Path, device: str = "auto", threads: Optional[int] = None) -> tuple[Denoiser, str, dict]:
    """(denoiser, provider actually used, metadata) for an ONNX model file."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
        _preload_cuda_libraries(ort)
    elif device == "cuda":
        raise PansharpenError("Device 'cuda' asked for but ONNX Runtime has no CUDAExecutionProvider: "
                              "install onnxruntime-gpu or use --device cpu.")
    opts = ort.SessionOptions()
    # The memory-pattern planner keeps every intermediate of a shape alive: ~2x the peak on a
    # 512 px tile (1.35 GiB -> 0.75 GiB measured) and no faster on CPU.
    opts.enable_mem_pattern = False
    # No NCHWc layout transform (the one optimisation above EXTENDED on the CPU): its reorder copies
    # cost ~30% of the peak memory of a network call (4 bands x 592 px: 1.33 -> 0.76 GB) for ~15%
    # of its time; bounded memory is the default run's promise (lab/reports/presets.md).
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    threads = inference_threads(threads)
    if threads:
        opts.intra_op_num_threads = threads
    try:
        sess = ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise PansharpenError(f"Cannot load the model {path}: {exc}; check the file or pick another model.") from exc
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    uses_stats = STATS_INPUT in {i.name for i in sess.get_inputs()}

    running: list = []  # RunOptions of the calls in progress

    def denoise(x_t: np.ndarray, t: float, cond: dict) -> np.ndarray:
        run = ort.RunOptions()
        running.append(run)
        try:
            return sess.run(None, _feeds(x_t, t, cond, uses_stats), run)[0]
        except Exception:  # onnxruntime's own types; a terminated run is a cancel
            if run.terminate:
                raise Cancelled() from None
            raise
        finally:
            running.remove(run)

    def abort() -> None:
        """Stop the calls in progress (from another thread): they end after the current operator."""
        for run in list(running):
            run.terminate = True

    denoise.abort = abort  # engine.progress.watched_call stops a cancelled network pass with it
    return denoise, "onnxruntime:" + sess.get_providers()[0], meta


def load_torch_model(path: Path, device: str = "cpu"):
    """(network in eval mode, metadata) from a .pt file written by train/export, or from an .onnx
    model's initialisers (engine.hfreqdiff.onnx_weights: the shipped model is only the .onnx)."""
    import torch

    from .network import build_network

    if Path(path).suffix.lower() == ".onnx":
        from .onnx_weights import torch_from_onnx

        return torch_from_onnx(Path(path), device)
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
        net = build_network(ckpt["net_config"])
        net.load_state_dict(ckpt["state_dict"])
    except Exception as exc:
        raise PansharpenError(f"Cannot load the model {path}: {exc}; check the file or pick another model.") from exc
    return net.to(device).eval(), dict(ckpt.get("meta", {}))


def torch_denoiser_of(net, device: str = "cpu") -> Denoiser:
    import torch

    names = input_names(net.uses_band_stats)

    def denoise(x_t: np.ndarray, t: float, cond: dict) -> np.ndarray:
        with torch.no_grad():
            feeds = _feeds(x_t, t, cond, len(names) > len(INPUT_NAMES))
            args = [torch.from_numpy(np.ascontiguousarray(feeds[k])).to(device) for k in names]
            return net(*args).float().cpu().numpy()

    return denoise


def torch_denoiser(path: Path, device: str = "auto") -> tuple[Denoiser, str, dict]:
    import torch

    dev = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    if device == "cuda" and dev != "cuda":
        raise PansharpenError("Device 'cuda' asked for but torch sees no GPU: use --device cpu.")
    net, meta = load_torch_model(path, dev)
    return torch_denoiser_of(net, dev), f"torch:{dev}", meta
