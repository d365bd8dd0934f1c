"""Run options of HFreqDiff as one typed value, built alike by the CLI, the dock and Processing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

from .errors import PansharpenError

# (value, label) in the order every front end shows them
DEVICES: tuple[tuple[str, str], ...] = (("auto", "Auto (GPU when available)"), ("cuda", "GPU (CUDA)"),
                                        ("cpu", "CPU"))
DEVICE_NAMES: tuple[str, ...] = tuple(d for d, _ in DEVICES)
ENSEMBLES: tuple[str, ...] = ("flips", "none")
# HFreqDiff quality presets: fast = the model distilled from the flip ensemble, one network pass per
# step; best = the shipped model's flip self-ensemble (4 passes)
QUALITIES: dict[str, str] = {"fast": "the distilled model, one network pass per step (the default)",
                             "best": "mean over the 4 flips of the input: 4x the network time"}
# fast is the default since its distilled model holds the held-out quality of best within 0.003 Q2n,
# 0.05 SAM, 0.03 ERGAS and 0.005 HQNR (issue 14; lab/reports/presets.md)
DEFAULT_QUALITY = "fast"
MAX_SAMPLES = 64


@dataclass(frozen=True)
class HFreqDiffOptions:
    """model: file or fine-tuned model folder (None: the bundled model); steps: DDIM steps (None:
    the model's default); seed: noise seed; samples: K draws (K > 1 also writes their spread);
    device: auto | cuda | cpu; quality: fast | best (None: DEFAULT_QUALITY); ensemble: flips | none,
    an expert override of what the quality preset chooses."""

    model: Optional[str] = None
    steps: Optional[int] = None
    seed: int = 0
    samples: int = 1
    device: str = "auto"
    quality: Optional[str] = None
    ensemble: Optional[str] = None

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise PansharpenError(f"steps must be at least 1 (got {self.steps}).")
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise PansharpenError(f"samples must be 1 to {MAX_SAMPLES} (got {self.samples}).")
        if self.seed < 0:
            raise PansharpenError(f"seed must not be negative (got {self.seed}).")
        if self.device not in DEVICE_NAMES:
            raise PansharpenError(f"Unknown device '{self.device}': use {', '.join(DEVICE_NAMES)}.")
        if self.quality is not None and self.quality not in QUALITIES:
            raise PansharpenError(f"Unknown quality '{self.quality}': use {' or '.join(QUALITIES)}.")
        if self.ensemble is not None and self.ensemble not in ENSEMBLES:
            raise PansharpenError(f"Unknown ensemble '{self.ensemble}': use {' or '.join(ENSEMBLES)}.")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "HFreqDiffOptions":
        """From a mapping that may hold other keys and None for 'default' (e.g. argparse's Namespace
        as vars()); steps <= 0 and an empty model also mean 'default'."""
        kw = {k: values[k] for k in cls.__dataclass_fields__ if values.get(k) not in (None, "")}
        if kw.get("steps") is not None and int(kw["steps"]) <= 0:
            del kw["steps"]
        return cls(**kw)

    def method_options(self) -> dict[str, Any]:
        """Keyword arguments of HFreqDiffMethod (what engine.pipeline.fuse_files takes)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def cli_args(self) -> list[str]:
        """The same options as `fuse` command-line arguments (for a child process)."""
        args: list[str] = []
        for key, value in self.method_options().items():
            args += [f"--{key}", str(value)]
        return args

    def uses_torch(self) -> bool:
        """Whether running with these options loads torch (a .pt model, or a GPU only torch sees).
        Imports neither torch nor a CUDA library: a GUI asks this before choosing where to run."""
        from .model_files import resolve_model

        try:
            return resolve_model(self.model, "auto", self.device, probe_torch=False)[1] == "torch"
        except PansharpenError:
            return False
