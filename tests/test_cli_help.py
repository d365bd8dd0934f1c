"""The command line explains itself: every option has help text, `info` lists every model file,
and evaluate-scene says why EXP is not ranked at full resolution."""

import argparse

from padm_pansharpening.engine.cli import build_parser, main
from padm_pansharpening.engine.definitions import MODEL_SUFFIXES, MODELS_DIR
from padm_pansharpening.engine.evaluation import FR_KEYS, RR_KEYS, markdown_table


def walk(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield path + (choice.dest,), choice
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))
        elif not isinstance(action, argparse._HelpAction):
            yield path + (action.dest,), action


def test_every_option_and_command_has_help_text():
    actions = list(walk(build_parser()))
    commands = {path[0] for path, _ in actions if len(path) > 1}
    assert {"fuse", "evaluate", "evaluate-scene", "info", "demo", "degradation", "finetune", "batch"} <= commands
    missing = [" ".join(path) for path, action in actions if not (action.help or "").strip()]
    assert missing == []


def test_info_lists_every_model_file(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("models: "))
    files = [p.name for p in MODELS_DIR.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES]
    assert files, "no model file bundled"
    for name in files:
        assert name in line
    assert "bundled: quality fast" in line and "bundled: quality best" in line


EXP_FR = {"D_lambda_K": 0.029, "D_s": 0.050, "HQNR": 0.922, "QNR": 0.950}
GSA_FR = {"D_lambda_K": 0.062, "D_s": 0.051, "HQNR": 0.891, "QNR": 0.919}
HPM_FR = {"D_lambda_K": 0.044, "D_s": 0.041, "HQNR": 0.917, "QNR": 0.929}


def test_full_resolution_tables_do_not_rank_exp_and_say_why():
    md = markdown_table({"EXP": EXP_FR, "GSA": GSA_FR, "MTF-GLP-HPM": HPM_FR}, FR_KEYS)
    lines = md.splitlines()
    exp_row = next(line for line in lines if line.startswith("| EXP"))
    assert "**" not in exp_row and "not ranked" in exp_row
    hpm_row = next(line for line in lines if line.startswith("| MTF-GLP-HPM"))
    assert hpm_row.count("**") == 2 * 4  # best of the fusing methods on all four
    assert any(line.startswith("Note: EXP") and "D_lambda_K" in line for line in lines)


def test_reduced_resolution_tables_still_rank_every_method():
    table = {"EXP": {k: 1.0 for k in RR_KEYS}, "GSA": {k: 0.5 for k in RR_KEYS}}
    md = markdown_table(table, RR_KEYS)
    assert "Note" not in md and "not ranked" not in md
    assert "**" in next(line for line in md.splitlines() if line.startswith("| EXP"))


def test_evaluate_scene_help_explains_the_full_resolution_ranking(capsys):
    try:
        main(["evaluate-scene", "--help"])
    except SystemExit:
        pass
    out = " ".join(capsys.readouterr().out.split())
    assert "EXP is not ranked" in out and "D_lambda_K" in out


def test_evaluate_scene_prints_and_records_why_exp_is_not_ranked(tmp_path, capsys):
    import json

    from padm_pansharpening.engine.demo import demo_scene, write_geotiffs

    scene, _ = demo_scene(128, seed=2)
    pan, ms = write_geotiffs(scene, tmp_path / "in")
    out_json = tmp_path / "t.json"
    assert main(["evaluate-scene", "--pan", str(pan), "--ms", str(ms), "--methods", "exp,gsa", "--progress",
                 "none", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "| EXP (not ranked) |" in out and "Note: EXP" in out
    assert set(json.loads(out_json.read_text())["FR_not_ranked"]) == {"EXP"}
