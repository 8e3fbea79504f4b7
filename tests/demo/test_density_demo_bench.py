"""bench/density_demo.sh's settings as a user meets them: JUDGE picks one pinned set of SFT/GRPO settings, a bad value
stops at once, and an OUT made under one judge is never continued under another."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "density_demo.sh"


def _run(out, **env):
    # WEIGHTS=bogus: the first stage of the preparation (demo.task) fails at once, after the settings are recorded.
    return subprocess.run(["bash", str(BENCH)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OUT=str(out), SEEDS="0", WEIGHTS="bogus", **env))


def _settings(out):
    return dict(line.split("=", 1) for line in (out / "settings.env").read_text().splitlines())


def test_bad_judge_and_data_seed_stop_before_anything_is_written(tmp_path):
    res = _run(tmp_path / "o", JUDGE="llm")
    assert res.returncode == 2 and "JUDGE=llm: expected check" in res.stderr
    res = _run(tmp_path / "o", DATA_SEED="x")
    assert res.returncode == 2 and "DATA_SEED=x: expected a whole number" in res.stderr
    res = _run(tmp_path / "o", SCORING="mean")
    assert res.returncode == 2 and "SCORING=mean: expected text or expected" in res.stderr
    assert not (tmp_path / "o").exists()


def test_each_judge_records_its_pinned_settings(tmp_path):
    check, score = tmp_path / "check", tmp_path / "score"
    assert _run(check).returncode != 0 and _run(score, JUDGE="score").returncode != 0  # the bogus WEIGHTS
    c, s = _settings(check), _settings(score)
    assert (c["JUDGE"], c["PROMPT"], c["MAX_NEW_TOKENS"], c["SFT_LR"], c["SFT_EPOCHS"]) == (
        "check", "generic_score100_check", "24", "1e-3", "15")
    assert (c["uniform.LEARNING_RATE"], c["uniform.BETA"], c["uniform.BT_DELTA_TEMP"], c["SFT_DATA_ARGS"]) == (
        "1e-4", "0.1", "5", "--include_both_sides")
    assert (c["uniform.REWARD_NAME"], c["sampling.BT_PAIR_SAMPLING"]) == ("bt_pointwise_baseline", "weighted")
    assert c["SCORING"] == s["SCORING"] == "expected"  # the demo's readout, recorded: a text run is another run
    res = _run(check, SCORING="text")
    assert res.returncode == 2 and "made with other settings (SCORING)" in res.stderr
    # the preparations run JOBS at a time, one thread each: the demo's SFT stage must not take 2 threads of its own
    demo = dict(line.split("=", 1) for line in (check / "seed0" / "settings.env").read_text().splitlines())
    assert (demo["TRAIN_THREADS"], demo["OMP_NUM_THREADS"]) == ("1", "1")
    # round 3's documented run
    assert (s["JUDGE"], s["PROMPT"], s["MAX_NEW_TOKENS"], s["SFT_LR"], s["SFT_EPOCHS"]) == (
        "score", "generic_score100_brief", "12", "3e-3", "6")
    assert (s["advantage.LEARNING_RATE"], s["advantage.BETA"], s["advantage.BT_DELTA_TEMP"]) == ("5e-4", "0", "20")
    assert s["SFT_DATA_ARGS"] == r"--filter_correct\ --include_both_sides"
    # the bench's own GRPO budget (the demo's of round 10), whatever the demo's preset defaults to later
    assert (c["uniform.MAX_STEPS"], c["uniform.SAVE_STEPS"]) == (s["sampling.MAX_STEPS"], s["sampling.SAVE_STEPS"]) \
        == ("450", "225")
    res = _run(tmp_path / "check", SFT_LR="3e-3")  # one pinned setting overridden is a setting of its own
    assert res.returncode == 2 and "made with other settings (SFT_LR)" in res.stderr


def test_an_out_made_under_one_judge_is_not_continued_under_another(tmp_path):
    out = tmp_path / "o"
    assert _run(out).returncode != 0
    before = (out / "settings.env").read_text()
    res = _run(out, JUDGE="score")
    assert res.returncode == 2
    assert "made with other settings (JUDGE SFT_EPOCHS SFT_LR SFT_DATA_ARGS PROMPT MAX_NEW_TOKENS " in res.stderr
    assert all(f"{arm}.{v}" in res.stderr for arm in ("uniform", "advantage", "sampling")
               for v in ("LEARNING_RATE", "BETA", "BT_DELTA_TEMP"))
    assert (out / "settings.env").read_text() == before


def test_a_changed_arm_preset_or_a_dropped_setting_stops_a_rerun(tmp_path):
    """Each arm's settings are its own preset's (configs/runs/demo_cpu_density.env) as resolved, compared both ways:
    a changed arm preset, and a reward setting given before and not now, are other settings."""
    import shutil

    root = tmp_path / "repo"
    for d in ("scripts", "configs", "bench"):
        shutil.copytree(ROOT / d, root / d)
    out = tmp_path / "o"

    def run(**env):
        return subprocess.run(["bash", str(root / "bench" / "density_demo.sh")], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, OUT=str(out), SEEDS="0", WEIGHTS="bogus",
                                                    PYTHON=sys.executable, **env))

    assert run(BT_MARGIN_GAMMA="1").returncode != 0
    res = run()  # the setting given before is gone
    assert res.returncode == 2 and "(uniform.BT_MARGIN_GAMMA advantage.BT_MARGIN_GAMMA sampling.BT_MARGIN_GAMMA)" \
        in res.stderr
    assert "BT_MARGIN_GAMMA" in (out / "settings.env").read_text()  # the record is kept, not overwritten
    assert run(FRESH="1").returncode != 0
    preset = root / "configs" / "runs" / "demo_cpu_density.env"
    preset.write_text(preset.read_text().replace("BT_HARD_LAMBDA=0.5", "BT_HARD_LAMBDA=0.9"))
    res = run()
    assert res.returncode == 2 and "uniform.BT_HARD_LAMBDA" in res.stderr


def test_a_preset_sourced_before_leaves_nothing_behind(tmp_path):
    """A preset sourced earlier in the user's shell: its leftovers are dropped before the bench sets its own values,
    so the arms' record (what they run) is the same as from a clean shell."""
    clean, stale = tmp_path / "clean", tmp_path / "stale"
    assert _run(clean, JUDGE="score").returncode != 0
    assert "uniform.BT_SCORE_PARSER=score100_first" in (clean / "settings.env").read_text()  # the brief prompt's
    # that preset also set BT_SCORE_PARSER=score100_first: without the drop, the arms' preset took the bench's
    # equal value for its leftover and ran score100_last
    res = subprocess.run(["bash", "-c", f"cd {ROOT} && source configs/runs/hh_score100_T20_C10_posclip.env && "
                                        f"bash {BENCH}"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OUT=str(stale), SEEDS="0", WEIGHTS="bogus", JUDGE="score"))
    assert res.returncode != 0 and "other settings" not in res.stderr
    assert (stale / "settings.env").read_text() == (clean / "settings.env").read_text()
