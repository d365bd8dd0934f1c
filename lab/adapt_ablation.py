"""Which adaptation overfits least: fine-tuning variants on the reduced-resolution protocol (issue 15, item 1).

    python -m lab.adapt_ablation [--scenes a,b] [--variants "|lr=5e-5|trainable=modulation|anchor=0.01"]
                                 [--minutes 1] [--threads 2] [--out build/adapt_ablation]

Per scene (central crop of at most 1024 PAN px), the Wald-degraded pair is fine-tuned (PADM, with
the never-worse check, as ``finetune`` runs) once per variant of FinetuneConfig, and the folder is
scored against the scene's real MS (Q2n, SAM, ERGAS) beside the shipped model: the truth the check
cannot see. Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .guard_check import parse_variants, variant_label
from .padm_bench import within_target as within, RR_KEYS, fuse, log, rr_metrics, scene_model, write_rows
from .scenes import load_scene

DEFAULT_SCENES = "vhr4b_zhengzhou_geotiff,landsat_oli_istanbul_geotiff,ge1_grip_pnn,landsat7_etm_fusebox_1"


def ablate_scene(name: str, variants: list[dict], minutes: float, threads: int, work: Path) -> list[dict]:
    from padm_pansharpening.engine.degradation import wald_degrade
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.padm.finetune import central_crop

    scene = load_scene(name)
    r, sensor, bits = scene.ratio, scene.sensor, scene.bits
    pan, ms = central_crop(scene.pan, scene.ms_lr, r, 1024)
    ms_rr, pan_rr = wald_degrade(ms, pan, sensor, r)
    shipped = rr_metrics(fuse(HFreqDiffMethod(), pan_rr, ms_rr, r, sensor), ms, r, bits)
    rows = []
    for i, overrides in enumerate(variants):
        method, summary = scene_model(pan_rr, ms_rr, r, sensor, minutes, False, threads, work, f"{name}_{i}", **overrides)
        got = rr_metrics(fuse(method, pan_rr, ms_rr, r, sensor), ms, r, bits)
        diff = {k: got[k] - shipped[k] for k in RR_KEYS}
        held = summary["held_out"]
        rows.append({"scene": name, "variant": variant_label(overrides), "kept": summary["kept"],
                     "steps": summary["steps"], "shipped": shipped, "folder": got, "diff": diff,
                     "held_out_shipped": (held["shipped"] or {}).get("HQNR"), "held_out_best": held["best_hqnr"]})
        log(f"{name} {variant_label(overrides)}: kept {summary['kept']}, " +
            ", ".join(f"{k} {d:+.4f}" for k, d in diff.items()))
    return rows


def markdown(rows: list[dict], machine: str, minutes: float, threads: int) -> str:
    lines = [f"Machine: {machine}; PADM fine-tunes of {minutes} min on the reduced-resolution inputs, {threads} "
             "torch threads, never-worse check on (as `finetune` runs).", "",
             "| scene | variant | steps | held-out HQNR: shipped / best checkpoint | kept | Q2n / SAM / ERGAS: folder "
             "minus shipped | within the target |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        ho = " / ".join("-" if row[k] is None else f"{row[k]:.4f}" for k in ("held_out_shipped", "held_out_best"))
        d = row["diff"]
        lines.append(f"| {row['scene']} | {row['variant']} | {row['steps']} | {ho} | {row['kept']} | "
                     f"{d['Q2n']:+.4f} / {d['SAM']:+.3f} / {d['ERGAS']:+.3f} | "
                     f"{'yes' if within(d) else '**no**'} |")
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        lines.append(f"\n{variant}: within the target on {sum(within(r['diff']) for r in mine)} of {len(mine)} scenes; "
                     f"mean Q2n difference {sum(r['diff']['Q2n'] for r in mine) / len(mine):+.4f}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    from padm_pansharpening.engine.machine import machine_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=DEFAULT_SCENES)
    p.add_argument("--variants", default="|lr=5e-5|trainable=modulation|anchor=0.01")
    p.add_argument("--minutes", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="build/adapt_ablation")
    args = p.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = machine_summary()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="adapt_ablation_") as tmp:
        for name in args.scenes.split(","):
            rows += ablate_scene(name, parse_variants(args.variants), args.minutes, args.threads, Path(tmp))
            write_rows(out, machine, rows, markdown(rows, machine, args.minutes, args.threads))
    print(markdown(rows, machine, args.minutes, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
