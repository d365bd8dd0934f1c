"""The scenes of a batch: a manifest, CSV (header ``pan,ms,out`` plus optional
``sensor,method,model,bands``) or JSON lines with the same keys, relative paths relative to the
manifest's folder; or a folder pattern with a pairing rule (``scenes_from_pattern``)."""

from __future__ import annotations

import csv
import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import PansharpenError

REQUIRED = ("pan", "ms", "out")
OPTIONAL = ("sensor", "method", "model", "bands")


@dataclass(frozen=True)
class SceneJob:
    """One row: the inputs, the output and what the row sets (None: the command line's default)."""

    row: int  # 1-based row in the manifest (the header not counted)
    pan: Path
    ms: Path
    out: Path
    sensor: Optional[str] = None
    method: Optional[str] = None
    model: Optional[str] = None
    bands: Optional[str] = None

    @property
    def name(self) -> str:
        return self.out.name


def _rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for k, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise PansharpenError(f"Manifest {path} line {k} is not JSON ({exc}): write one object per line.") \
                    from None
            if not isinstance(obj, dict):
                raise PansharpenError(f"Manifest {path} line {k} is not a JSON object: write one object per line.")
            rows.append({str(key): "" if v is None else str(v) for key, v in obj.items()})
        return rows
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PansharpenError(f"Manifest {path} has no column {', '.join(missing)}: its header must start with "
                              f"pan,ms,out (optional: {','.join(OPTIONAL)}).")
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def read_manifest(path: str | Path) -> list[SceneJob]:
    """The scenes of a manifest; a one-line PansharpenError for a manifest that cannot be used."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise PansharpenError(f"Manifest {path} does not exist: give a CSV (pan,ms,out) or JSON-lines file.")
    rows = _rows(path)
    if not rows:
        raise PansharpenError(f"Manifest {path} lists no scene: add one row per scene.")
    jobs, outs = [], {}
    for k, row in enumerate(rows, 1):
        unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL) - {""})
        if unknown:
            raise PansharpenError(f"Manifest {path} row {k} has unknown column(s) {', '.join(unknown)}: use "
                                  f"{','.join(REQUIRED + OPTIONAL)}.")
        empty = [c for c in REQUIRED if not row.get(c)]
        if empty:
            raise PansharpenError(f"Manifest {path} row {k} has no {', '.join(empty)}: every row needs pan, ms and out.")
        pan, ms, out = (_resolve(path.parent, row[c]) for c in REQUIRED)
        if out in outs:
            raise PansharpenError(f"Manifest {path} rows {outs[out]} and {k} write the same output {out}: give each "
                                  "scene its own output.")
        outs[out] = k
        jobs.append(SceneJob(k, pan, ms, out, *(row.get(c) or None for c in OPTIONAL)))
    return jobs


def _resolve(folder: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (folder / p).absolute()


def scenes_from_pattern(pattern: str, pair: str, out_dir: str | Path, suffix: str = "_fused") -> list[SceneJob]:
    """Every file matching ``pattern`` (a glob, ``**`` allowed) is a PAN; ``pair`` "PAN_PART=MS_PART"
    names its MS: the PAN's file name with PAN_PART replaced by MS_PART, in the same folder. Outputs go
    to ``out_dir`` as <PAN stem><suffix>.tif, prefixed with the PAN's folder name where two PANs share
    a stem (e.g. many pan.tif)."""
    if "=" not in pair or not pair.split("=", 1)[0]:
        raise PansharpenError(f"Pairing rule '{pair}' is not PAN_PART=MS_PART: write e.g. --pair P1BS=M1BS or "
                              "--pair pan=ms.")
    pan_part, ms_part = pair.split("=", 1)
    pans = sorted(Path(p).absolute() for p in glob.glob(str(Path(pattern).expanduser()), recursive=True)
                  if Path(p).is_file() and pan_part in Path(p).name)
    if not pans:
        raise PansharpenError(f"No file matches {pattern} with '{pan_part}' in its name: check the pattern and the "
                              "pairing rule.")
    out_dir = Path(out_dir).expanduser().absolute()
    stems = [p.stem for p in pans]
    jobs = []
    for k, pan in enumerate(pans, 1):
        ms = pan.with_name(pan.name.replace(pan_part, ms_part, 1))
        name = f"{pan.stem}{suffix}.tif" if stems.count(pan.stem) == 1 else f"{pan.parent.name}_{pan.stem}{suffix}.tif"
        jobs.append(SceneJob(k, pan, ms, out_dir / name))
    outs = [j.out for j in jobs]
    if len(set(outs)) != len(outs):
        raise PansharpenError(f"Two PANs matching {pattern} would write the same output: give a manifest instead.")
    return jobs
