"""The typed configuration of an HFreqDiff training run (lab/configs/*.json), checked on load:
an unknown key (a typo) or a missing required one is an error, not a silently ignored default."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional


@dataclass
class TrainConfig:
    # data
    train_scenes: list[str]
    val_scenes: list[str]  # held out: never trained on (checked)
    demo_seeds: list[int] = field(default_factory=list)
    demo_size: int = 256
    extra_ratios: list[int] = field(default_factory=list)  # ratio-2 pairs from ratio-4 scenes, etc.
    degradation_jitter: list[list[float]] = field(default_factory=list)  # (MS gain scale, PAN gain scale)
    full_resolution: Optional[dict[str, Any]] = None  # lab.full_resolution.FullResolutionConfig
    distill: Optional[dict[str, Any]] = None  # lab.distill.DistillConfig: learn init_from's flip ensemble
    baselines: list[str] = field(default_factory=lambda: ["exp", "gsa", "mtf-glp-hpm"])
    # network and optimisation
    net: dict[str, Any] = field(default_factory=lambda: {"channels": [16, 32, 64], "cond_channels": [16, 24, 32],
                                                          "emb": 64})
    init_from: Optional[str] = None  # a trained .pt or .onnx to start from (stage 2)
    patch: int = 64
    batch: int = 4
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema: float = 0.999
    seed: int = 0
    # machine and budget
    threads: int = 1
    device: str = "cpu"  # cpu | cuda | auto
    prefetch: int = 0  # batches made ahead in a thread (GPU runs)
    max_minutes: float = 30.0
    max_steps: int = 200000
    # logging, validation, outputs
    log_every: int = 100
    checkpoint_minutes: float = 2.0
    val_minutes: float = 15.0
    val_steps: int = 4
    val_pad_lr: int = 16
    final_steps: list[int] = field(default_factory=lambda: [1])
    default_steps: int = 1
    checkpoint: str = "checkpoints/hfreqdiff_last.pt"
    out_pt: str = "checkpoints/hfreqdiff.pt"
    out_onnx: str = "checkpoints/hfreqdiff.onnx"
    report: str = "train_logs/hfreqdiff_report.json"
    model_card: str = "train_logs/HFREQDIFF_MODEL_CARD.md"
    config_path: Optional[str] = None  # where it was read from (for the card)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}: known keys are {sorted(known)}")
        missing = [k for k in ("train_scenes", "val_scenes") if k not in values]
        if missing:
            raise ValueError(f"training config lacks {missing}")
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
