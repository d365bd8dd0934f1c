"""The PADM studies' bookkeeping: the truth study's degradations and the never-worse verdicts of padm_bench."""

from __future__ import annotations

import numpy as np
import pytest

from lab import padm_bench, truth_study
from lab.synthetic import synthesize
from padm_pansharpening.engine.sensors import get_sensor


def test_nominal_sigma_gives_the_sensors_gain_at_nyquist():
    """A Gaussian of the nominal sigma has the sensor's mean MTF gain at the LR Nyquist frequency."""
    sensor = get_sensor("GeoEye1")
    for ratio in (2, 4):
        s = truth_study.nominal_sigma(sensor, ratio)
        gain = np.exp(-2 * np.pi ** 2 * s ** 2 * (1 / (2 * ratio)) ** 2)
        assert gain == pytest.approx(np.mean(sensor.ms_gnyq), rel=1e-9)


def test_cases_depart_from_the_nominal_degradation_as_named():
    mean = 300.0
    nominal = truth_study.known(truth_study.CASES["nominal"], 6, 4, 2.0, mean)
    assert nominal.sigmas == (2.0, 2.0) and set(nominal.shifts) == {(0.0, 0.0)} and nominal.bias == 0
    assert np.allclose(nominal.weights, 1 / 6)
    shifted = truth_study.known(truth_study.CASES["band shifts 0.2-0.5 LR px"], 6, 4, 2.0, mean)
    assert len(shifted.shifts) == 6 and all(0.2 <= max(abs(x), abs(y)) <= 0.5 for x, y in shifted.shifts)
    spectral = truth_study.known(truth_study.CASES["other spectral response"], 4, 4, 2.0, mean)
    assert sum(spectral.weights) == pytest.approx(1) and spectral.weights[3] > 4 * spectral.weights[0]
    assert spectral.bias == pytest.approx(0.05 * mean)
    wide = truth_study.known(truth_study.CASES["wider blur x1.5"], 4, 2, 1.0, mean)
    assert wide.sigmas == (1.5, 1.5) and wide.ratio == 2


def test_synthesised_pair_keeps_the_truth_grid():
    """A truth of whole LR px gives an LRMS ratio times smaller and a PAN of the truth's size."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 500, (64, 48, 4))
    deg = truth_study.known(truth_study.CASES["all of them"], 4, 4, 2.0, float(truth.mean()))
    ms, pan = synthesize(truth, deg)
    assert ms.shape == (16, 12, 4) and pan.shape == (64, 48)
    assert abs(pan.mean() - (truth @ np.asarray(deg.weights)).mean() - deg.bias) < 0.01


def test_never_worse_lines_apply_the_issue_tolerances():
    shipped = {"HQNR": 0.90, "Q2n": 0.90, "SAM": 2.0, "ERGAS": 2.0}
    report = {"scenes": {"s": {
        "FR": {padm_bench.SHIPPED: shipped, padm_bench.PADM: {"HQNR": 0.8985}, padm_bench.FIXED: {"HQNR": 0.897}},
        "RR": {padm_bench.SHIPPED: shipped, padm_bench.PADM: {"Q2n": 0.898, "SAM": 2.04, "ERGAS": 2.02},
               padm_bench.FIXED: {"Q2n": 0.91, "SAM": 2.06, "ERGAS": 1.9}},
        "finetune": {f"{m} ({p})": {"kept": "scene model"} for m in (padm_bench.PADM, padm_bench.FIXED)
                     for p in ("FR", "RR")}}}}
    lines = padm_bench.never_worse_lines(report)
    verdicts = [line.rsplit("|", 2)[1].strip() for line in lines if line.startswith("| s |")]
    assert verdicts == ["yes", "yes", "**no**", "**no**"]  # PADM FR, PADM RR, fixed FR (-0.003), fixed RR (SAM)
    assert "Within the target: 2 of 4." in lines


def test_criterion_rules_replay_on_recorded_checks():
    """Each rule keeps the checkpoint it allows (the shipped model where none passes), and the replay scores
    that choice's truth against the shipped model's at the best preset."""
    from lab import criterion_study as cs

    shipped = {"HQNR": 0.90, "Q2n_rs": 0.95, "SAM_rs": 1.0, "truth_Q2n": 0.95, "truth_SAM": 1.5, "truth_ERGAS": 2.0}
    row = {"presets": {"best": shipped, "fast": {**shipped, "HQNR": 0.91, "Q2n_rs": 0.94}},
           "checks": [{"step": 10, "HQNR": 0.93, "Q2n_rs": 0.94, "SAM_rs": 0.9,
                       "truth_Q2n": 0.90, "truth_SAM": 2.0, "truth_ERGAS": 2.5},
                      {"step": 20, "HQNR": 0.92, "Q2n_rs": 0.96, "SAM_rs": 0.95,
                       "truth_Q2n": 0.955, "truth_SAM": 1.4, "truth_ERGAS": 1.9}]}
    today = cs.replay(row, cs.RULES["HQNR (today)"])
    assert today["kept"] == "step 10" and today["diff"]["Q2n"] == pytest.approx(-0.05)
    both = cs.replay(row, cs.RULES["HQNR and Q2n_rs"])  # Q2n_rs above the higher shipped preset's 0.95
    assert both["kept"] == "step 20" and cs.within(both["diff"])
    row["checks"][1]["HQNR"] = 0.905  # below the fast preset's 0.91: nothing passes
    assert cs.replay(row, cs.RULES["HQNR and Q2n_rs"]) == {"kept": "shipped", "diff": {"Q2n": 0, "SAM": 0, "ERGAS": 0}}
