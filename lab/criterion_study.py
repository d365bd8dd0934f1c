"""Which never-worse criterion tracks the truth: every check of a fine-tune scored against the truth (issue 15, item 1).

    python -m lab.criterion_study [--scenes a,b] [--minutes 1] [--threads 2] [--fine-tunes padm,mtf]
                                  [--variants "|spatial_weight=0"] [--cases "shift 0.3 LR px,..."]
                                  [--out build/criterion_study] [--replay]

Per scene (central crop of at most 1024 PAN px, trimmed so that its Wald-degraded pair needs no
further crop), the reduced-resolution inputs are fine-tuned with PADM and with the fixed MTF, with
the never-worse check on. Every score the check takes (the shipped model at each preset, the scene
model at each checkpoint) also fuses the whole input as the folder would and is scored against the
real MS: the truth the check cannot see. Candidate rules (``RULES``: which checkpoint, if any, to keep)
are then replayed on those records, and each rule's choice is compared with the shipped model's
truth. With ``--cases`` the pairs are lab.truth_study's known degradations of the real MS instead.
Writes ``<out>.json`` and ``<out>.md`` (``--replay``: the Markdown again from the JSON, for new rules).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .guard_check import parse_variants, variant_label
from .padm_bench import within_target as within, RR_KEYS, fuse, log, rr_metrics, scene_model, write_rows
from .scenes import load_scene

DEFAULT_SCENES = ("vhr4b_zhengzhou_geotiff,landsat_oli_istanbul_geotiff,ge1_grip_pnn,landsat7_etm_fusebox_1,"
                  "landsat7_etm_fusebox_34,wv2_rio_rr_geotiff")


def _hqnr(s: dict) -> float:
    return s["HQNR"] if s.get("HQNR") is not None else float("-inf")


def _q2n_rs(s: dict) -> float:
    return s["Q2n_rs"] if s.get("Q2n_rs") is not None else float("-inf")


def _sam_rs(s: dict) -> float:
    return s["SAM_rs"] if s.get("SAM_rs") is not None else float("inf")


def _d_lambda(s: dict) -> float:
    return s["D_lambda_K"] if s.get("D_lambda_K") is not None else float("inf")


def _pick(checks: list[dict], shipped: dict, beats: Callable[[dict, dict], bool], key) -> Optional[dict]:
    ok = [c for c in checks if beats(c, shipped)]
    return max(ok, key=key) if ok else None


# rule -> (checks, shipped score at the preset compared) -> the kept checkpoint or None (the shipped model)
RULES: dict[str, Callable[[list[dict], dict], Optional[dict]]] = {
    "HQNR (today)": lambda cs, sh: _pick(cs, sh, lambda c, s: _hqnr(c) > _hqnr(s), _hqnr),
    "Q2n_rs": lambda cs, sh: _pick(cs, sh, lambda c, s: _q2n_rs(c) > _q2n_rs(s), _q2n_rs),
    "HQNR and Q2n_rs": lambda cs, sh: _pick(cs, sh, lambda c, s: _hqnr(c) > _hqnr(s) and _q2n_rs(c) >= _q2n_rs(s),
                                            _hqnr),
    "HQNR, Q2n_rs and SAM_rs": lambda cs, sh: _pick(
        cs, sh, lambda c, s: _hqnr(c) > _hqnr(s) and _q2n_rs(c) >= _q2n_rs(s) and _sam_rs(c) <= _sam_rs(s), _hqnr),
    # the engine's rule (engine.padm.guard.NeverWorse.admissible)
    "HQNR and D_lambda_K": lambda cs, sh: _pick(cs, sh, lambda c, s: _hqnr(c) > _hqnr(s) and _d_lambda(c) <= _d_lambda(s),
                                                _hqnr),
}


def reduced_holdout_score(denoiser, steps: int, ensemble: str, pan: np.ndarray, ms_lr: np.ndarray, held, ratio: int,
                          sensor, profile) -> dict:
    """Q2n and SAM (``_rs``) over the held-out cells at reduced scale: the crop degraded by the run's operator
    ``profile`` (the pair fine-tuning learns from, whose loss gives those cells no weight), fused with
    ``denoiser`` and compared with the MS moved onto the PAN's geometry."""
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.metrics import q2n, sam
    from padm_pansharpening.engine.padm.finetune import aligned_ms
    from padm_pansharpening.engine.padm.guard import METRIC_BLOCK

    target = aligned_ms(ms_lr, profile.shifts)
    method = HFreqDiffMethod(denoiser=denoiser, steps=steps, ensemble=ensemble)
    fused = fuse(method, profile.degrade_pan(pan), profile.degrade_ms(target), ratio, sensor)
    h, w = min(fused.shape[0], target.shape[0]), min(fused.shape[1], target.shape[1])
    fused, target = fused[:h, :w], target[:h, :w]
    mask = held.pixels(ratio)[:h, :w]
    block = min(METRIC_BLOCK, held.cell // ratio)
    return {"Q2n_rs": round(q2n(target, fused, block, block, mask=mask[::block, ::block]), 5),
            "SAM_rs": round(sam(target[mask][:, None], fused[mask][:, None]), 4)}


def install_truth(gt: np.ndarray, bits: int) -> None:
    """Make every held-out score of engine.padm.guard also carry the reduced-scale score (with the run's
    operator, kept as engine.padm.finetune.scene_operator returns it) and the truth of the whole input fused."""
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.padm import finetune, guard

    original = getattr(guard.NeverWorse, "_score_without_truth", guard.NeverWorse._score)
    guard.NeverWorse._score_without_truth = original
    operator = getattr(finetune, "_scene_operator_unhooked", finetune.scene_operator)
    finetune._scene_operator_unhooked = operator
    used: dict = {}

    def scene_operator(*args, **kwargs):
        used["profile"] = operator(*args, **kwargs)
        return used["profile"]

    def _score(self, denoiser, steps: int, ensemble: str) -> dict:
        got = original(self, denoiser, steps, ensemble)
        got.update(reduced_holdout_score(denoiser, steps, ensemble, self.pan, self.ms_lr, self.held, self.ratio,
                                         self.sensor, used["profile"]))
        method = HFreqDiffMethod(denoiser=denoiser, steps=steps, ensemble=ensemble)
        truth = rr_metrics(fuse(method, self.pan, self.ms_lr, self.ratio, self.sensor), gt, self.ratio, bits)
        return {**got, **{f"truth_{k}": round(float(v), 5) for k, v in truth.items()}}

    finetune.scene_operator = scene_operator
    guard.NeverWorse._score = _score


def reduced_pair_of(name: str, case: Optional[str]):
    """(pan, ms, truth, ratio, sensor, bits): the Wald-degraded central crop (at most 1024 PAN px, trimmed so
    that its reduced pair needs no further crop) with its real MS as the truth; or, with ``case`` (a
    lab.truth_study degradation), the scene's real MS as the truth of a pair synthesised from it."""
    from padm_pansharpening.engine.degradation import wald_degrade
    from padm_pansharpening.engine.padm.finetune import central_crop

    from .synthetic import synthesize
    from .truth_study import CASES, known, nominal_sigma

    scene = load_scene(name)
    r, sensor, bits = scene.ratio, scene.sensor, scene.bits
    if case is not None:
        truth = np.asarray(scene.ms_lr, np.float64)
        truth = truth[:truth.shape[0] // (r * r) * r * r, :truth.shape[1] // (r * r) * r * r]
        ms, pan = synthesize(truth, known(CASES[case], truth.shape[2], r, nominal_sigma(sensor, r), float(truth.mean())))
        return pan, ms, truth, r, sensor, bits
    pan, ms = central_crop(scene.pan, scene.ms_lr, r, 1024)
    side = r ** 3  # the reduced pair's PAN side a multiple of ratio^2: finetune's own crop keeps it whole
    hp, wp = pan.shape[0] // side * side, pan.shape[1] // side * side
    pan, ms = pan[:hp, :wp], ms[:hp // r, :wp // r]
    ms_rr, pan_rr = wald_degrade(ms, pan, sensor, r)
    return pan_rr, ms_rr, ms, r, sensor, bits


def study_scene(name: str, minutes: float, threads: int, work: Path, kinds: tuple[bool, ...] = (False, True),
                variants: tuple[dict, ...] = ({},), case: Optional[str] = None) -> list[dict]:
    pan, ms, truth, r, sensor, bits = reduced_pair_of(name, case)
    install_truth(truth, bits)
    rows = []
    for fixed, overrides in ((f, v) for f in kinds for v in variants):
        tag = f"{name}_{'mtf' if fixed else 'padm'}_{len(list(work.iterdir()))}"  # unique in the work folder
        _, summary = scene_model(pan, ms, r, sensor, minutes, fixed, threads, work, tag, **overrides)
        held = summary["held_out"]
        kind = ("fixed MTF" if fixed else "PADM") + (f", {variant_label(overrides)}" if overrides else "")
        rows.append({"scene": name if case is None else f"{name}, {case}", "fine-tune": kind, "steps": summary["steps"],
                     "holdout": held["holdout"], "presets": held["shipped_presets"], "checks": held["checks"] or []})
        log(f"{tag}: " + "; ".join(f"step {c['step']}: HQNR {c['HQNR']}, Q2n_rs {c.get('Q2n_rs')}, "
                                   f"truth Q2n {c.get('truth_Q2n')}" for c in rows[-1]["checks"]))
    return rows


def truth(score: dict) -> dict:
    return {k: score[f"truth_{k}"] for k in RR_KEYS}


def replay(row: dict, rule: Callable) -> dict:
    """The rule's choice on a run, and its truth minus the shipped model's at the default (best) preset."""
    presets = list(row["presets"].values())
    shipped = {"HQNR": max(map(_hqnr, presets)), "Q2n_rs": max(map(_q2n_rs, presets)),
               "SAM_rs": min(map(_sam_rs, presets)), "D_lambda_K": min(map(_d_lambda, presets))}  # each figure at the shipped preset that does best on it
    chosen = rule(row["checks"], shipped)
    presets = row["presets"]
    base = truth(presets["best"])
    got = truth(chosen) if chosen is not None else base
    return {"kept": "shipped" if chosen is None else f"step {chosen['step']}",
            "diff": {k: got[k] - base[k] for k in RR_KEYS}}


def markdown(rows: list[dict], machine: str, minutes: float, threads: int) -> str:
    lines = [f"Machine: {machine}; fine-tunes of {minutes} min on the reduced-resolution inputs, {threads} torch "
             "threads. Held-out scores: HQNR at the inputs' scale, Q2n_rs / SAM_rs at the reduced scale made with "
             "the run's operator; truth: the whole input fused, against the real MS.", "",
             "| scene | fine-tune | model | held-out HQNR | held-out Q2n_rs | held-out SAM_rs | truth Q2n | truth SAM |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        scores = [(f"shipped ({p})", s) for p, s in row["presets"].items()] + \
                 [(f"step {c['step']}", c) for c in row["checks"]]
        for label, s in scores:
            lines.append(f"| {row['scene']} | {row['fine-tune']} | {label} | {s.get('HQNR')} | {s.get('Q2n_rs')} | "
                         f"{s.get('SAM_rs')} | {s.get('truth_Q2n')} | {s.get('truth_SAM')} |")
    lines += ["", "Each rule replayed on those records: its choice's truth minus the shipped model's (best preset).", "",
              "| rule | within the target | mean Q2n difference | choices |", "|---|---|---|---|"]
    for name, rule in RULES.items():
        got = [replay(row, rule) for row in rows]
        choices = ", ".join(f"{row['scene'].split('_')[0]}/{row['fine-tune']}: {g['kept']} ({g['diff']['Q2n']:+.4f})"
                            for row, g in zip(rows, got))
        lines.append(f"| {name} | {sum(within(g['diff']) for g in got)} of {len(got)} | "
                     f"{np.mean([g['diff']['Q2n'] for g in got]):+.4f} | {choices} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    from padm_pansharpening.engine.machine import machine_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=DEFAULT_SCENES)
    p.add_argument("--minutes", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fine-tunes", default="padm,mtf", help="padm, mtf or both")
    p.add_argument("--variants", default="", help='FinetuneConfig overrides, "|" between variants (lab.guard_check)')
    p.add_argument("--cases", default="", help="lab.truth_study degradations (comma-separated) instead of the "
                   "Wald protocol: the real MS is the truth of pairs synthesised from it")
    p.add_argument("--replay", action="store_true", help="only rewrite <out>.md from <out>.json (new rules)")
    p.add_argument("--out", default="build/criterion_study")
    args = p.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.replay:
        data = json.loads(out.with_suffix(".json").read_text())
        write_rows(out, data["machine"], data["rows"], markdown(data["rows"], data["machine"], args.minutes, args.threads))
        print(out.with_suffix(".md").read_text())
        return 0
    machine = machine_summary()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="criterion_study_") as tmp:
        for name in args.scenes.split(","):
            kinds = tuple(k == "mtf" for k in args.fine_tunes.split(","))
            for case in args.cases.split(",") if args.cases else [None]:
                rows += study_scene(name, args.minutes, args.threads, Path(tmp), kinds,
                                    tuple(parse_variants(args.variants)), case)
            write_rows(out, machine, rows, markdown(rows, machine, args.minutes, args.threads))
    print(markdown(rows, machine, args.minutes, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
