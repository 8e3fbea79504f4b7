"""scripts/demo.sh as a user meets it: no stray arguments, and a DEMO_DIR is reused only under the same settings."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_rejects_arguments(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--fresh"], capture_output=True, text=True,
                         env=dict(os.environ, DEMO_DIR=str(tmp_path / "demo")), timeout=60)
    assert res.returncode == 2 and "usage: bash scripts/demo.sh" in res.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_never_reuses_stages_made_with_other_settings(tmp_path):
    """Issue 12 item 1 for the demo: finished stages of DEMO_DIR are reused only under the same settings."""
    demo = tmp_path / "demo"

    def run(**env):  # PYTHON=false: the first stage that runs fails at once (the check comes before any stage)
        return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                              env=dict(os.environ, DEMO_DIR=str(demo), PYTHON="false", **env), timeout=60)

    assert run().returncode == 1 and (demo / "settings.env").is_file()  # recorded, then the task stage failed
    (demo / ".done" / "task").touch()
    res = run(SEED="1", N_TEST="50")
    assert res.returncode == 2 and "made with other settings (SEED N_TEST)" in res.stderr
    res = run()
    assert res.returncode == 1 and "other settings" not in res.stderr and "[demo] task: done already" in res.stdout
    (demo / "settings.env").unlink()
    res = run()
    assert res.returncode == 2 and "no settings.env" in res.stderr


def test_task_args_are_recorded_and_guarded(tmp_path):
    """TASK_ARGS (the skewed task of bench/density_demo.sh) is a setting: recorded, and a change either way stops."""
    demo = tmp_path / "demo"

    def run(**env):
        return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                              env=dict(os.environ, DEMO_DIR=str(demo), PYTHON="false", **env), timeout=60)

    assert run().returncode == 1
    assert "TASK_ARGS" not in (demo / "settings.env").read_text()  # a default demo's settings.env is as before
    (demo / ".done" / "task").touch()
    skew = "--train_category_weights animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667"
    res = run(TASK_ARGS=skew)
    assert res.returncode == 2 and "made with other settings (TASK_ARGS)" in res.stderr
    (demo / "settings.env").unlink()
    assert run(TASK_ARGS=skew).returncode == 2  # no settings.env beside finished stages
    (demo / ".done" / "task").unlink()
    assert run(TASK_ARGS=skew).returncode == 1 and "TASK_ARGS=" in (demo / "settings.env").read_text()
    (demo / ".done" / "task").touch()
    res = run()  # dropping TASK_ARGS is a change too
    assert res.returncode == 2 and "made with other settings (TASK_ARGS)" in res.stderr


def _has_avx2() -> bool:
    try:
        return " avx2 " in f" {Path('/proc/cpuinfo').read_text().replace(chr(10), ' ')} "
    except OSError:
        return False


def test_cpu_isa_pins_the_kernels_of_every_stage_and_is_a_setting(tmp_path):
    """CPU_ISA: auto (the default) resolves to avx2 where the CPU has AVX2, which reaches the stages' processes as
    the three library pins; the resolved value is recorded (native, the kernels of every demo from before the pin,
    by its absence) and guarded, and an unknown value stops before anything is written."""
    demo, dump = tmp_path / "demo", tmp_path / "env.txt"
    fake_python = tmp_path / "python"  # the first stage's interpreter: writes its environment, then fails
    fake_python.write_text(f"#!/usr/bin/env bash\nenv > {dump}\nexit 1\n")
    fake_python.chmod(0o755)

    def run(**env):
        base = {k: v for k, v in os.environ.items()
                if k not in ("CPU_ISA", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")}
        return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                              env=dict(base, DEMO_DIR=str(demo), PYTHON=str(fake_python), **env), timeout=60)

    res = run(CPU_ISA="avx512")
    assert res.returncode == 2 and "CPU_ISA=avx512: expected auto, avx2" in res.stderr and not demo.exists()
    assert run().returncode == 1
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    settings = (demo / "settings.env").read_text().splitlines()
    if _has_avx2():
        assert (seen["ATEN_CPU_CAPABILITY"], seen["ONEDNN_MAX_CPU_ISA"], seen["MKL_CBWR"]) == ("avx2", "AVX2", "AVX2")
        assert "CPU_ISA=avx2" in settings
        other = "native"
    else:
        assert "ATEN_CPU_CAPABILITY" not in seen and not any(x.startswith("CPU_ISA=") for x in settings)
        res = run(CPU_ISA="avx2")
        assert res.returncode == 2 and "this CPU has no AVX2" in res.stderr
        other = "avx2"
    (demo / ".done" / "task").touch()
    res = run(CPU_ISA=other)  # other kernels are another setting
    assert res.returncode == 2 and "made with other settings (CPU_ISA)" in res.stderr
    if other == "native":
        (demo / ".done" / "task").unlink()
        assert run(CPU_ISA="native").returncode == 2  # still the recorded avx2 demo
        (demo / "settings.env").unlink()
        assert run(CPU_ISA="native").returncode == 1
        seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
        assert "ATEN_CPU_CAPABILITY" not in seen and "CPU_ISA" not in (demo / "settings.env").read_text()
        (demo / ".done" / "task").touch()  # a native demo (as every demo from before the pin) ...
        res = run()  # ... is not continued under the default avx2 kernels
        assert res.returncode == 2 and "made with other settings (CPU_ISA)" in res.stderr


def test_stop_after(tmp_path):
    demo = tmp_path / "demo"
    env = dict(os.environ, DEMO_DIR=str(demo), PYTHON="false")
    res = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                         env=dict(env, STOP_AFTER="sft_warmup"), timeout=60)
    assert res.returncode == 2 and "STOP_AFTER=sft_warmup: expected one of the stages task tiny" in res.stderr
    assert not demo.exists()
    demo.joinpath(".done").mkdir(parents=True)
    subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, timeout=60)
    for name in ("task", "tiny"):
        (demo / ".done" / name).touch()
    res = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                         env=dict(env, STOP_AFTER="tiny"), timeout=60)  # PYTHON=false: any later stage would fail
    assert res.returncode == 0 and "[demo] stopped after tiny" in res.stdout and "teacher" not in res.stdout


def test_benches_read_a_demos_own_prompt_and_answer_length(tmp_path):
    """gbr_demo_setting: the benches that re-score a demo's models ask with the values in its settings.env (quoted
    as demo.sh writes them), and fall back to the given default for a demo from before the variable existed."""
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "settings.env").write_text("PROMPT=generic_score100_check\nMODEL_ARGS=--hidden\\ 128\\ --layers\\ 4\n")

    def get(var, default):
        return subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/_common.sh"; gbr_demo_setting "$0" {var} {default}',
                               str(demo)], capture_output=True, text=True, timeout=60)

    assert get("PROMPT", "x").stdout == "generic_score100_check\n"
    assert get("MODEL_ARGS", "x").stdout == "--hidden 128 --layers 4\n"
    assert get("MAX_NEW_TOKENS", "12").stdout == "12\n"
    res = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/_common.sh"; gbr_demo_setting "$0" PROMPT x',
                          str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "settings.env not found" in res.stderr


def test_grpo_settings_are_recorded_as_the_preset_resolves_them(tmp_path):
    """The GRPO stage's settings are recorded resolved through configs/runs/demo_cpu.env, not as the empty "use the
    preset's default": a demo trained under an old preset default (MAX_STEPS=300 when the default is now 600) is
    another demo, and a DEMO_DIR recorded before that (MAX_STEPS='') is not continued either."""
    import shutil

    root = tmp_path / "repo"  # a copy of the launchers and presets whose preset default can be changed
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copytree(ROOT / "configs", root / "configs")
    demo = tmp_path / "demo"

    def run(**env):
        base = {k: v for k, v in os.environ.items()
                if k not in ("MAX_STEPS", "SAVE_STEPS", "BETA", "REWARD_NAME") and not k.startswith("BT_")}
        return subprocess.run(["bash", str(root / "scripts" / "demo.sh")], capture_output=True, text=True,
                              env=dict(base, DEMO_DIR=str(demo), PYTHON="false", **env), timeout=60)

    preset = root / "configs" / "runs" / "demo_cpu.env"
    default = next(line for line in preset.read_text().splitlines() if 'MAX_STEPS="${MAX_STEPS:-' in line)
    default_steps = default.split('MAX_STEPS="${MAX_STEPS:-')[1].split("}")[0]
    assert run().returncode == 1
    settings = (demo / "settings.env").read_text().splitlines()
    assert f"MAX_STEPS={default_steps}" in settings and "REWARD_NAME=bt_pointwise_baseline" in settings
    assert "BT_DELTA_CLIP=10" in settings  # a value the preset fixes is recorded too
    names = [x.split("=", 1)[0] for x in settings]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)  # each setting once
    assert not any(x.startswith(("BT_SCORE_PARSER=", "MAX_COMPLETION_LENGTH=")) for x in settings)
    (demo / ".done" / "task").touch()
    assert run(MAX_STEPS=default_steps).returncode == 1  # the default, given by hand, is the same setting
    res = run(MAX_STEPS="7", BETA="0.2")
    assert res.returncode == 2 and "made with other settings (BETA MAX_STEPS)" in res.stderr
    res = run(BT_MARGIN_GAMMA="1")  # a reward setting the preset leaves alone is a setting too
    assert res.returncode == 2 and "made with other settings (BT_MARGIN_GAMMA)" in res.stderr

    preset.write_text(preset.read_text().replace(f"MAX_STEPS:-{default_steps}", "MAX_STEPS:-7"))
    res = run()  # the preset's default changed: the finished stages were made under the old one
    assert res.returncode == 2 and "made with other settings (MAX_STEPS)" in res.stderr
    assert run(MAX_STEPS=default_steps).returncode == 1  # ... and are reused when the old value is asked for

    old = [x if not x.startswith(("MAX_STEPS=", "SAVE_STEPS=")) else x.split("=")[0] + "=''" for x in settings]
    (demo / "settings.env").write_text("\n".join(old) + "\n")  # recorded before the resolution: '' = "default"
    res = run(MAX_STEPS=default_steps)
    assert res.returncode == 2 and "made with other settings (MAX_STEPS SAVE_STEPS)" in res.stderr


def test_settings_do_not_depend_on_what_the_shell_happens_to_hold(tmp_path):
    """The record is the same whether the user exported a preset's own value or not, a preset sourced earlier in the
    shell leaves nothing behind (its EXTRA_ARGS is not the demo's), and the train_grpo.sh knobs the preset leaves to
    the user are settings too."""
    demo = tmp_path / "demo"

    def run(script="", **env):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BT_", "GBR_PRESET")) and k not in (
            "EXTRA_ARGS", "TOP_P", "SCALE_REWARDS", "TEMPLATE", "OMP_NUM_THREADS", "MAX_STEPS", "REWARD_NAME")}
        cmd = f"cd {ROOT} && {script} bash scripts/demo.sh"
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                              env=dict(base, DEMO_DIR=str(demo), PYTHON="false", **env))

    assert run().returncode == 1
    first = (demo / "settings.env").read_text()
    (demo / ".done" / "task").touch()
    for same in ({"TOP_P": "1.0"}, {"OMP_NUM_THREADS": "1"}):  # the values the preset and the demo use anyway
        res = run(**same)
        assert res.returncode == 1 and "done already" in res.stdout, (same, res.stderr)
    for script in ("source configs/runs/demo_cpu_hard_margin.env &&",
                   "source configs/runs/hh_score100_T20_C10_posclip.env &&"):
        res = run(script)  # a preset sourced before: its leftovers are dropped, the record is unchanged
        assert res.returncode == 1 and "done already" in res.stdout, (script, res.stderr)
        assert (demo / "settings.env").read_text() == first
    for other in ({"SCALE_REWARDS": "none"}, {"TEMPLATE": "chatml"}, {"OMP_NUM_THREADS": "2"}):
        res = run(**other)
        assert res.returncode == 2 and f"made with other settings ({next(iter(other))})" in res.stderr


def test_scoring_change_reruns_only_the_eval_stage_and_thread_settings_are_recorded(tmp_path):
    demo = tmp_path / "demo"

    def run(**env):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BT_", "GBR_PRESET")) and k not in (
            "SCORING", "TRAIN_THREADS", "OMP_NUM_THREADS")}
        return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                              timeout=60, env=dict(base, DEMO_DIR=str(demo), PYTHON="false", **env))

    assert run().returncode == 1  # PYTHON=false: the task stage fails after the settings are recorded
    settings = (demo / "settings.env").read_text().splitlines()
    assert "SCORING=expected" in settings and "TRAIN_THREADS=2" in settings and "OMP_NUM_THREADS=1" in settings
    for stage in ("task", "eval"):
        (demo / ".done" / stage).touch()
    res = run(SCORING="text")  # only the eval stage depends on it: redone, the rest reused, no refusal
    assert res.returncode == 1 and "SCORING changed to text: the eval stage runs again" in res.stdout, res.stderr
    assert "task: done already" in res.stdout and not (demo / ".done" / "eval").exists()
    assert "SCORING=text" in (demo / "settings.env").read_text().splitlines()
    res = run(SCORING="text", TRAIN_THREADS="1")  # the training stages' threads are a setting like any other
    assert res.returncode == 2 and "made with other settings (TRAIN_THREADS)" in res.stderr
    for bad, message in ((dict(SCORING="mean"), "SCORING=mean: expected text or expected"),
                         (dict(TRAIN_THREADS="0"), "TRAIN_THREADS=0: expected a whole number >= 1")):
        res = run(**bad)
        assert res.returncode == 2 and message in res.stderr, res.stderr
