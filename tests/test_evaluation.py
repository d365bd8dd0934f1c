"""Scene evaluation tables: the Wald protocol on a scene with known structure."""


from padm_pansharpening.engine import demo as datasets
from padm_pansharpening.engine.evaluation import evaluate_methods, markdown_table


def test_wald_tables_rank_methods_sensibly():
    scene, _ = datasets.demo_scene(384, seed=5)
    res = evaluate_methods(scene.pan, scene.ms_lr, scene.ratio, scene.sensor, scene.bits, ["exp", "gsa"])
    assert set(res["RR"]) == {"EXP", "GSA"} and set(res["FR"]) == {"EXP", "GSA"}
    # EXP adds no PAN detail: its full-resolution spectral distortion is small and a
    # detail-injecting method beats it on spatial metrics at reduced resolution.
    assert res["RR"]["GSA"]["SCC"] > res["RR"]["EXP"]["SCC"]
    assert res["RR"]["GSA"]["ERGAS"] < res["RR"]["EXP"]["ERGAS"]
    for row in res["FR"].values():
        assert 0 <= row["D_lambda_K"] < 1 and 0 <= row["D_s"] < 1
        assert abs(row["HQNR"] - (1 - row["D_lambda_K"]) * (1 - row["D_s"])) < 1e-12


def test_small_scene_skips_reduced_resolution_with_a_note():
    scene, _ = datasets.demo_scene(128, seed=1)  # MS 32x32: too small for the 21 px cut
    res = evaluate_methods(scene.pan, scene.ms_lr, scene.ratio, scene.sensor, scene.bits, ["exp"])
    assert res["RR"] == {} and "EXP" in res["FR"] and res["notes"]


def test_markdown_table_marks_the_best_per_column():
    table = {"a": {"SAM": 2.0, "Q2n": 0.9}, "b": {"SAM": 1.0, "Q2n": 0.8}}
    md = markdown_table(table, ["Q2n", "SAM"]).splitlines()
    assert md[2] == "| a | **0.9000** | 2.0000 |" and md[3] == "| b | 0.8000 | **1.0000** |"
