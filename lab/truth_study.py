"""Where PADM helps, shown against truth (issue 15, item 2).

    python -m lab.truth_study [--scenes ge1_grip_pnn,landsat7_etm_fusebox_34] [--cases all]
                              [--minutes 1.5] [--threads 1] [--out build/truth_study]

The real MS of a shared scene the shipped model never trained on is the high-resolution truth.
Known degradations that depart from the sensor's nominal MTF make the input pair
(:func:`lab.synthetic.synthesize`: per band an analytic, shifted, possibly anisotropic Gaussian
and decimation by the scene's ratio; the PAN a weighted sum of the truth's bands plus a bias).
Each case is then pansharpened by the shipped HFreqDiff, the classical methods (the best by Q2n
against the truth is reported), a fine-tune with the sensor's fixed MTF and a PADM fine-tune of
the same budget, and scored against the truth (Q2n, SAM, ERGAS, the reference toolbox's
definitions, ``RR_CROP`` px cut) and without it (HQNR on the input pair, the never-worse check's
criterion: does it rank the methods as the truth does?).

The fine-tunes run without the never-worse check (``guard=False``), so that the two fine-tunes
are compared as methods at equal budget; the check's criterion is reported beside the truth.
Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .padm_bench import CLASSICAL, fr_metrics, fuse, log, rr_metrics, scene_model, write_rows
from .synthetic import KnownDegradation, synthesize

DEFAULT_SCENES = "ge1_grip_pnn,landsat7_etm_fusebox_34"
SHIPPED, CLASSIC, FIXED, PADM = "HFreqDiff shipped", "best classical", "fine-tune, fixed MTF", "HFreqDiff+PADM"


@dataclass(frozen=True)
class Case:
    """A degradation relative to the sensor's nominal one: blur sigmas as multiples of the nominal
    Gaussian's, shifts in LR px per band (cycled over the bands), PAN weights tilted across the bands."""

    name: str
    sigma_scale: tuple[float, float] = (1.0, 1.0)
    angle_deg: float = 0.0
    shifts: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    tilt: float = 0.0  # PAN weight of band b proportional to 1 + tilt * (b / (B - 1) - 0.5) * 2
    bias_share: float = 0.0  # PAN bias as a share of the truth's mean


CASES = {c.name: c for c in (
    Case("nominal"),
    Case("shift 0.3 LR px", shifts=((0.3, -0.2),)),
    Case("band shifts 0.2-0.5 LR px", shifts=((0.5, -0.2), (0.2, 0.3), (-0.4, 0.25), (0.3, -0.45))),
    Case("wider blur x1.5", sigma_scale=(1.5, 1.5)),
    Case("anisotropic blur", sigma_scale=(1.6, 0.7), angle_deg=30.0),
    Case("other spectral response", tilt=0.8, bias_share=0.05),
    Case("all of them", sigma_scale=(1.6, 0.7), angle_deg=30.0,
         shifts=((0.5, -0.2), (0.2, 0.3), (-0.4, 0.25), (0.3, -0.45)), tilt=0.8, bias_share=0.05),
)}


def nominal_sigma(sensor, ratio: int) -> float:
    """PAN px: the Gaussian whose response at the LR Nyquist frequency is the sensor's mean GNyq."""
    g = float(np.mean(sensor.ms_gnyq))
    return ratio * np.sqrt(-2.0 * np.log(g)) / np.pi


def known(case: Case, n_bands: int, ratio: int, sigma0: float, mean: float) -> KnownDegradation:
    w = 1.0 + case.tilt * (np.arange(n_bands) / max(n_bands - 1, 1) - 0.5) * 2
    return KnownDegradation(ratio=ratio, sigmas=(sigma0 * case.sigma_scale[0], sigma0 * case.sigma_scale[1]),
                            angle_deg=case.angle_deg,
                            shifts=tuple(case.shifts[b % len(case.shifts)] for b in range(n_bands)),
                            weights=tuple(float(x) for x in w / w.sum()), bias=case.bias_share * mean)


def study_case(name: str, case: Case, minutes: float, threads: int, work: Path) -> dict:
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.methods import get_method
    from .scenes import load_scene

    scene = load_scene(name)
    r, sensor, bits = scene.ratio, scene.sensor, scene.bits
    truth = np.asarray(scene.ms_lr, np.float64)
    truth = truth[:truth.shape[0] // (r * r) * r * r, :truth.shape[1] // (r * r) * r * r]  # whole LR px, even reduced pair
    deg = known(case, truth.shape[2], r, nominal_sigma(sensor, r), float(truth.mean()))
    ms, pan = synthesize(truth, deg)
    row: dict = {"scene": name, "case": case.name, "ratio": r, "bands": int(truth.shape[2]),
                 "truth_px": list(truth.shape[:2]), "sigmas": [round(s, 3) for s in deg.sigmas], "methods": {}}

    def score(label: str, method) -> None:
        fused = fuse(method, pan, ms, r, sensor)
        row["methods"][label] = {**rr_metrics(fused, truth, r, bits), **fr_metrics(fused, ms, pan, sensor, r)}

    score(SHIPPED, HFreqDiffMethod())
    classical = {}
    for m in CLASSICAL:
        fused = fuse(get_method(m), pan, ms, r, sensor)
        classical[m] = {**rr_metrics(fused, truth, r, bits), **fr_metrics(fused, ms, pan, sensor, r)}
    best = max(classical, key=lambda m: classical[m]["Q2n"])
    row["methods"][CLASSIC] = {**classical[best], "method": best}
    for label, fixed in ((FIXED, True), (PADM, False)):
        t0 = time.monotonic()
        method, summary = scene_model(pan, ms, r, sensor, minutes, fixed, threads, work, f"{name}_{len(row['methods'])}",
                                      guard=False)
        score(label, method)
        row["methods"][label]["seconds"] = round(time.monotonic() - t0, 1)
        row["methods"][label]["steps"] = summary["steps"]
        if not fixed:
            row["operator"] = summary["operator"]
    log(f"{name} / {case.name}: " + "; ".join(f"{k} Q2n {v['Q2n']:.4f}" for k, v in row["methods"].items()))
    return row


def markdown(rows: list[dict], machine: str, minutes: float, threads: int) -> str:
    lines = [f"Machine: {machine}; fine-tunes {minutes} min each (no never-worse check), {threads} torch thread(s).",
             "", "Truth: the scene's real MS. Q2n / SAM / ERGAS against it; HQNR on the input pair (no reference).",
             "", "| scene | case | method | Q2n | SAM | ERGAS | HQNR (no ref.) |", "|---|---|---|---|---|---|---|"]
    wins = {"Q2n": 0, "SAM": 0, "ERGAS": 0}
    agree, decisions, wrong_keep, wrong_reject = 0, 0, [], []
    for row in rows:
        for label, m in row["methods"].items():
            name = f"{label} ({m['method']})" if "method" in m else label
            lines.append(f"| {row['scene']} | {row['case']} | {name} | {m['Q2n']:.4f} | {m['SAM']:.3f} | "
                         f"{m['ERGAS']:.3f} | {m['HQNR']:.4f} |")
        p, f = row["methods"][PADM], row["methods"][FIXED]
        wins["Q2n"] += p["Q2n"] > f["Q2n"]
        wins["SAM"] += p["SAM"] < f["SAM"]
        wins["ERGAS"] += p["ERGAS"] < f["ERGAS"]
        ranked_truth = sorted(row["methods"], key=lambda k: -row["methods"][k]["Q2n"])[0]
        ranked_noref = sorted(row["methods"], key=lambda k: -row["methods"][k]["HQNR"])[0]
        agree += ranked_truth == ranked_noref
        s = row["methods"][SHIPPED]
        for label in (FIXED, PADM):  # the never-worse check's decision, made by HQNR, against the truth's
            m = row["methods"][label]
            keep, better = m["HQNR"] > s["HQNR"], m["Q2n"] > s["Q2n"]
            decisions += keep == better
            where = f"{row['scene']} / {row['case']} / {label} (Q2n {m['Q2n'] - s['Q2n']:+.4f})"
            (wrong_keep if keep and not better else wrong_reject if better and not keep else [None]).append(where)
    n = len(rows)
    lines += ["", f"PADM fine-tune better than the fixed-MTF fine-tune: Q2n in {wins['Q2n']} of {n} cases, "
              f"SAM in {wins['SAM']}, ERGAS in {wins['ERGAS']}.",
              f"The best method by no-reference HQNR is the best by Q2n against the truth in {agree} of {n} cases.",
              f"Fine-tune or shipped model, decided by HQNR on the input as the never-worse check decides: the truth's "
              f"choice (by Q2n) in {decisions} of {2 * n} fine-tunes. Kept though worse against the truth: "
              f"{'; '.join(wrong_keep) or 'none'}. Rejected though better: {'; '.join(wrong_reject) or 'none'}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    from padm_pansharpening.engine.machine import machine_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=DEFAULT_SCENES)
    p.add_argument("--cases", default="all", help=f"comma-separated, of: {', '.join(CASES)}")
    p.add_argument("--minutes", type=float, default=1.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="build/truth_study")
    args = p.parse_args()
    cases = list(CASES.values()) if args.cases == "all" else [CASES[c.strip()] for c in args.cases.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = machine_summary()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="truth_study_") as tmp:
        for name in args.scenes.split(","):
            for i, case in enumerate(cases):
                rows.append(study_case(name, case, args.minutes, args.threads, Path(tmp) / f"c{i}"))
                write_rows(out, machine, rows, markdown(rows, machine, args.minutes, args.threads))
    print(markdown(rows, machine, args.minutes, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
