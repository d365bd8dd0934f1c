"""HFreqDiff models the plugin can offer: the bundled one and fine-tuned ones found on disk.

A fine-tuned model is a folder holding a .onnx and/or .pt file (what ``finetune --out DIR``
writes; ``fuse --model DIR`` takes it). They are looked for in the profile's models folder
(where the dock's fine-tuning puts them) and in folders the user added.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..engine.definitions import MODEL_SUFFIXES, bundled_models, model_files_in
from . import deps


@dataclass(frozen=True)
class ModelEntry:
    label: str
    path: Optional[str]  # None: the engine's default (bundled) model
    kind: str  # "bundled" | "fine-tuned" | "file"


def models_folder() -> Path:
    """Where the dock writes fine-tuned models: <QGIS profile>/padm_pansharpening/models."""
    return deps.profile_folder() / "models"


def _holds_model(folder: Path) -> bool:
    return folder.is_dir() and not folder.name.startswith(".") and bool(model_files_in(folder))


def find_models(extra: Iterable[str | Path] = (), search_dirs: Optional[Iterable[Path]] = None) -> list[ModelEntry]:
    """Bundled model first, then fine-tuned folders (newest first), then extra files/folders."""
    entries: list[ModelEntry] = []
    bundled = bundled_models()
    if bundled:
        entries.append(ModelEntry("Bundled model", None, "bundled"))  # its file: the tooltip
    found: list[Path] = []
    for root in (search_dirs if search_dirs is not None else [models_folder()]):
        root = Path(root)
        if root.is_dir():
            found += [d for d in root.iterdir() if _holds_model(d)]
    for folder in sorted(found, key=lambda d: d.stat().st_mtime, reverse=True):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.stat().st_mtime))
        entries.append(ModelEntry(f"Fine-tuned: {folder.name} ({when})", str(folder), "fine-tuned"))
    known = {e.path for e in entries}
    for item in extra:
        p = Path(item)
        if str(p) in known or not (p.is_file() and p.suffix in MODEL_SUFFIXES or _holds_model(p)):
            continue
        kind = "fine-tuned" if p.is_dir() else "file"
        entries.append(ModelEntry(f"{'Folder' if p.is_dir() else 'File'}: {p.name}", str(p), kind))
        known.add(str(p))
    return entries


def bundled_model_name() -> str:
    bundled = bundled_models()
    return bundled[0].name if bundled else "none shipped"


def new_model_folder(pan_path: str, root: Optional[Path] = None) -> Path:
    """A fresh folder name for a scene's fine-tuned model: <models>/<pan stem>-<date-time>."""
    root = Path(root) if root is not None else models_folder()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(pan_path).stem)[:40] or "scene"
    base = root / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
