"""The never-worse target of issue 15 at full resolution, checked on the whole crop.

    python -m lab.guard_check [--scenes a,b] [--minutes 2[,8]] [--padm-only] [--variants "|lr=5e-5"]
                              [--threads 2] [--out build/guard_check]

Per scene (central crop of at most 1024 PAN px) and per fine-tune (PADM, and the fixed-MTF
ablation), ``finetune`` runs with its never-worse check (cells held out, engine.padm.guard). The
folder it writes is then run as a user would, on the **whole** crop, at both quality presets, and
scored (HQNR) against the shipped model at the same preset: the target is never worse by more than
0.002 HQNR. A folder that kept the shipped models holds the shipped files themselves (a test shows
they fuse identically), so its row repeats the shipped scores instead of fusing again.
Several budgets (``--minutes 3,8``) fine-tune each scene once per budget against the same shipped
scores; several variants (``--variants "|lr=5e-5|trainable=modulation"``: FinetuneConfig fields, ``|``
between variants, an empty one for the defaults) likewise. Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from .padm_bench import fr_metrics, log, scene_model, write_rows
from .scenes import load_scene

DEFAULT_SCENES = "ge1_grip_pnn,wv3_hpf_geotiff,landsat_oli_istanbul_geotiff,vhr4b_zhengzhou_geotiff"
PRESETS = ("fast", "best")
TOLERANCE = 0.002  # HQNR


def whole_crop(method, pan, ms, ratio, sensor) -> dict:
    """Full-resolution metrics of the crop fused as a user's run fuses it (tiled, fitted on the scene)."""
    from padm_pansharpening.engine.tiling import fuse_array

    return fr_metrics(fuse_array(pan, ms, method, ratio, sensor), ms, pan, sensor, ratio)


def parse_variants(text: str) -> list[dict]:
    """"|lr=5e-5|anchor=0.01" -> [{}, {"lr": 5e-05}, {"anchor": 0.01}] (numbers where they parse)."""
    def value(v: str):
        try:
            return float(v) if any(c in v for c in ".e") else int(v)
        except ValueError:
            return v

    return [dict((k.strip(), value(v.strip())) for k, v in (kv.split("=", 1) for kv in part.split(",") if kv.strip()))
            for part in text.split("|")]


def variant_label(overrides: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"


def check_scene(name: str, budgets: list[float], threads: int, work: Path, padm_only: bool = False,
                variants: tuple[dict, ...] = ({},)) -> list[dict]:
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.padm.finetune import central_crop

    scene = load_scene(name)
    r, sensor = scene.ratio, scene.sensor
    pan, ms = central_crop(scene.pan, scene.ms_lr, r, 1024)
    if min(ms.shape[:2]) < 32:
        log(f"{name}: MS {ms.shape[1]}x{ms.shape[0]} px, too small for PADM (32 x 32 MS px): skipped")
        return []
    shipped = {q: whole_crop(HFreqDiffMethod(quality=q), pan, ms, r, sensor) for q in PRESETS}
    log(f"{name}: shipped HQNR " + ", ".join(f"{q} {shipped[q]['HQNR']:.4f}" for q in PRESETS))
    rows = []
    runs = [(v, m, o) for m in budgets for o in variants for v in (("HFreqDiff+PADM", False),) + (
        () if padm_only else (("fine-tune, fixed MTF", True),))]
    for i, ((label, fixed), minutes, overrides) in enumerate(runs):
        t0 = time.monotonic()
        tag = f"{name}_{'mtf' if fixed else 'padm'}_{minutes:g}min_{i}"
        _, summary = scene_model(pan, ms, r, sensor, minutes, fixed, threads, work, tag, **overrides)
        folder, held = work / tag, summary["held_out"]
        if summary["kept"] == "scene model":
            kept = whole_crop(HFreqDiffMethod(model=folder, quality="fast"), pan, ms, r, sensor)
            kept = {q: kept for q in PRESETS}  # a scene model runs the same at both presets
        else:
            kept = shipped
        rows.append({"scene": name, "fine-tune": label, "minutes": minutes, "variant": variant_label(overrides),
                     "kept": summary["kept"], "steps": summary["steps"],
                     "held_out_shipped": (held["shipped"] or {}).get("HQNR"), "held_out_best_check": held["best_hqnr"],
                     "whole_shipped": {q: shipped[q]["HQNR"] for q in PRESETS},
                     "whole_kept": {q: kept[q]["HQNR"] for q in PRESETS},
                     "seconds": round(time.monotonic() - t0, 1), "finetune_seconds": summary["seconds"]["total"],
                     "holdout": held["holdout"], "shipped_presets": held["shipped_presets"], "checks": held["checks"]})
        log(f"{name} {label} ({minutes:g} min, {variant_label(overrides)}): kept {summary['kept']}; whole crop " +
            ", ".join(f"{q} {kept[q]['HQNR']:.4f} vs {shipped[q]['HQNR']:.4f}" for q in PRESETS))
    return rows


def markdown(rows: list[dict], machine: str, threads: int) -> str:
    lines = [f"Machine: {machine}; {threads} torch threads; budget = the fine-tune's `--budget-minutes`, "
             "wall = its measured time (operator, fine-tuning, checks, export).", "",
             "| scene | fine-tune | variant | budget / wall | steps | held-out HQNR: shipped | held-out: best checkpoint | "
             "kept | whole crop fast: shipped / kept | whole crop best: shipped / kept | worst difference | within 0.002 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ok = 0
    for row in rows:
        diff = min(row["whole_kept"][q] - row["whole_shipped"][q] for q in PRESETS)
        ok += diff >= -TOLERANCE
        best, shipped = ("-" if row[k] is None else f"{row[k]:.4f}" for k in ("held_out_best_check", "held_out_shipped"))
        wall = f"{row['finetune_seconds'] / 60:.1f} min" if "finetune_seconds" in row else "-"
        lines.append(f"| {row['scene']} | {row['fine-tune']} | {row.get('variant', 'defaults')} | "
                     f"{row.get('minutes', '-')} min / {wall} | {row.get('steps', '-')} | {shipped} | {best} | "
                     f"{row['kept']} | "
                     + " | ".join(f"{row['whole_shipped'][q]:.4f} / {row['whole_kept'][q]:.4f}" for q in PRESETS)
                     + f" | {diff:+.4f} | {'yes' if diff >= -TOLERANCE else '**no**'} |")
    lines += ["", f"Within the target: {ok} of {len(rows)} fine-tunes."]
    return "\n".join(lines) + "\n"


def main() -> int:
    from padm_pansharpening.engine.machine import machine_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=DEFAULT_SCENES)
    p.add_argument("--minutes", default="2", help="fine-tune budgets, comma-separated")
    p.add_argument("--padm-only", action="store_true", help="skip the fixed-MTF ablation")
    p.add_argument("--variants", default="", help='FinetuneConfig overrides: "|lr=5e-5|trainable=modulation"')
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="build/guard_check")
    args = p.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="guard_check_") as tmp:
        for name in args.scenes.split(","):
            rows += check_scene(name, [float(m) for m in args.minutes.split(",")], args.threads, Path(tmp),
                                args.padm_only, tuple(parse_variants(args.variants)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = machine_summary()
    write_rows(out, machine, rows, markdown(rows, machine, args.threads))
    print(markdown(rows, machine, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
