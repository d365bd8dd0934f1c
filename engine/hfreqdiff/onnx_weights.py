"""The torch HFreqDiff network built from an ONNX model file, so that the .onnx is the one weights
file shipped: fine-tuning and a GPU only torch can use start from it too.

The architecture comes from the model's metadata (``net_config``, written by
engine.hfreqdiff.export; inferred from the weight shapes in files exported before it) and the
weights from the graph's initialisers, which the exporter names after the torch parameters. The
exporter stores equal tensors once and names the others through Identity nodes; those are followed.
Needs the ``onnx`` package (ONNX Runtime does not expose initialisers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PansharpenError

NET_CONFIG_KEY = "net_config"  # metadata_props key: the network config as JSON (HFreqDiffNet.config)


def read_onnx(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors by name: the initialisers and their Identity aliases, metadata_props) of a model file."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise PansharpenError(f"The onnx package is needed to build the torch network from {path}: "
                              "install it (pip install onnx) or use a .pt model.") from exc
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises protobuf's and its own exception types
        raise PansharpenError(f"Cannot load the model {path}: {exc}; check the file or pick another model.") from exc
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in model.graph.node
               if n.op_type == "Identity" and len(n.input) == 1 and len(n.output) == 1}
    for name in aliases:
        source, seen = aliases[name], {name}
        while source not in tensors and source in aliases and source not in seen:
            seen.add(source)
            source = aliases[source]
        if source in tensors and name not in tensors:
            tensors[name] = tensors[source]
    return tensors, {p.key: p.value for p in model.metadata_props}


def infer_net_config(tensors: dict[str, np.ndarray]) -> dict:
    """The HFreqDiffNet config that the weight shapes imply (for files without ``net_config``)."""
    try:
        channels = [int(tensors[k].shape[0]) for k in ("inp.weight", "down1.weight", "down2.weight")]
        cond = [int(tensors[f"pan_branch.{k}.weight"].shape[0]) for k in ("l0.0", "l1.1", "l2.1")]
        config = {"channels": channels, "cond_channels": cond, "emb": int(tensors["embed.mlp.0.weight"].shape[0])}
    except KeyError as exc:
        raise ValueError(f"no HFreqDiff weight {exc} among the initialisers") from None
    if "embed.stats.weight" in tensors:
        config["band_stats"] = True
    return config


def torch_from_onnx(path: Path, device: str = "cpu"):
    """(HFreqDiff torch network in eval mode, metadata without ``net_config``) from an .onnx file.
    Every parameter must be among the initialisers with its shape; a fixed buffer of the
    architecture (filter taps, frequencies) that the export folded away keeps its built value."""
    import torch

    from .network import build_network

    tensors, meta = read_onnx(Path(path))
    try:
        config = json.loads(meta[NET_CONFIG_KEY]) if NET_CONFIG_KEY in meta else infer_net_config(tensors)
        net = build_network(config)
        state = net.state_dict()
        params = {name for name, _ in net.named_parameters()}
        missing = sorted(k for k in params if k not in tensors)
        if missing:
            raise ValueError(f"parameters missing from the initialisers: {', '.join(missing[:3])}")
        state.update({k: torch.from_numpy(np.array(tensors[k])) for k in state if k in tensors})
        net.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - a wrong config or weights: one line for the user
        raise PansharpenError(f"Cannot build the torch network from {path}: {exc}; check the file or "
                              "pick another model.") from exc
    meta.pop(NET_CONFIG_KEY, None)
    return net.to(device).eval(), meta
