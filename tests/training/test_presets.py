"""Every training preset sources cleanly, sets every reward setting, validates, and names no personal path."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from grpo_bt_rm.rewards import REWARD_VARIANTS, BTRewardSettings
from grpo_bt_rm.training.settings import PairTrainSettings

ROOT = Path(__file__).resolve().parents[2]
NOT_OURS = {"demo_cpu.env"}  # owned by the demo preset's author
# _*.env files are building blocks the presets source (_base_7b.env, _bt_defaults.env), not presets;
# rm_*.env are scalar reward-model presets (scripts/train_rm.sh, no GRPO reward): tests/training/test_rm.py
PRESETS = sorted(p for p in (ROOT / "configs/runs").glob("*.env") if p.name not in NOT_OURS and p.name[0] != "_"
                 and not p.name.startswith("rm_"))
REQUIRED = ["MODEL", "DATASET", "OUT_DIR", "REWARD_NAME", "NUM_GENERATIONS", "PER_DEVICE_TRAIN_BS",
            "MAX_COMPLETION_LENGTH", "BT_SCORE_PARSER", "BT_DELTA_TEMP", "BT_DELTA_CLIP", "BT_DELTA_NEG_CLIP",
            "BT_REWARD_SCALE", "BT_REWARD_OFFSET", "BT_HARD_LAMBDA", "BT_HARD_TAU", "BT_HARD_EPS",
            "BT_PAIR_SAMPLING", "BT_MIN_REWARD_STD"]
REFERENCE = {"score100_T20_C10_posclip", "score100_T10_C6_posclip", "score5_baseline_T1_symclip",
             "hh_score100_T20_C10_posclip", "tiny_cpu"}


def sourced(preset: Path, base: Path) -> dict:
    env = {"HOME": str(base / "home"), "PATH": "/usr/bin:/bin", "GRPO_BT_RM_BASE_DIR": str(base),
           "BT_PARSE_FAIL_REWARD": "-1"}  # a stale value in the shell must not leak into a preset run
    out = subprocess.run(["bash", "-c", f"set -u; source {preset}; python3 -c 'import json, os; "
                          "print(json.dumps(dict(os.environ)))'"], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_reference_presets_exist():
    assert REFERENCE <= {p.stem for p in PRESETS}
    assert any("reason_first" in p.stem for p in PRESETS) and any("density" in p.stem for p in PRESETS)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset(preset, tmp_path):
    text = preset.read_text()
    personal = re.search(r"(?<![\w.])/(data|home|work|tmp|scratch)/|\$USER|\$\{USER", text)
    assert personal is None, f"{preset.name} names a machine path ({personal.group(0)})"
    env = sourced(preset, tmp_path)
    missing = [v for v in REQUIRED if not env.get(v)]
    assert not missing, f"{preset.name} does not set {missing}"
    assert "BT_PARSE_FAIL_REWARD" not in env
    assert env["DATASET"].startswith(str(tmp_path)) and env["OUT_DIR"].startswith(str(tmp_path))
    assert env["REWARD_NAME"] in REWARD_VARIANTS
    settings = BTRewardSettings.from_env(env)
    PairTrainSettings.from_env(env)
    assert settings.parser is not None
    assert int(env["PER_DEVICE_TRAIN_BS"]) * int(env.get("GRAD_ACC_STEPS", "1")) % (2 * int(env["NUM_GENERATIONS"])) == 0
    # issue 13: no LoRA dropout in LoRA presets; no gradient checkpointing for the tiny CPU model
    expected = "--lora_dropout 0" if env["TUNER_TYPE"] == "lora" else "--gradient_checkpointing false"
    assert expected in env.get("EXTRA_ARGS", ""), (preset.name, env.get("EXTRA_ARGS"))


def _shell(tmp_path, script: str) -> list[str]:
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "GRPO_BT_RM_BASE_DIR": str(tmp_path)}
    out = subprocess.run(["bash", "-c", f"set -u; cd {ROOT}; {script}"], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_resourcing_presets_leaves_no_leftovers(tmp_path):
    """Issue 12 item 13: the second arm of hh_density gets its own OUT_DIR, a preset's TOP_K does not leak into the
    next preset, and a value the user set in between is kept."""
    show = 'echo "$OUT_DIR|$REWARD_NAME|$BT_PAIR_SAMPLING|${TOP_K-unset}"'
    first, second, third, fourth, fifth = _shell(tmp_path, f"""
        DENSITY_MODE=uniform source configs/runs/hh_density.env; {show}
        DENSITY_MODE=sampling source configs/runs/hh_density.env; {show}
        source configs/runs/tiny_cpu.env; {show}
        export OUT_DIR=/somewhere/mine; source configs/runs/tiny_cpu.env; {show}
        source configs/runs/hh_density.env; {show}""")
    assert first == f"{tmp_path}/runs/hh_density_uniform|bt_pointwise_baseline|uniform|50"
    assert second == f"{tmp_path}/runs/hh_density_sampling|bt_pointwise_baseline|weighted|50"
    assert third == f"{tmp_path}/runs/tiny_cpu|bt_pointwise_baseline|uniform|unset"
    assert fourth.startswith("/somewhere/mine|")  # set by the user: an input, kept
    assert fifth.startswith("/somewhere/mine|bt_pointwise_density|")  # still the user's; DENSITY_MODE default


def _assignments(path: Path) -> set[tuple[str, str]]:
    """(variable, value) of every `export A=B C=D` word in a file, comments dropped."""
    out = set()
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["export"]:
            out.update(tuple(w.split("=", 1)) for w in words[1:] if "=" in w)
    return out


@pytest.mark.parametrize("preset", [p for p in PRESETS if "_base_7b.env" in p.read_text()], ids=lambda p: p.stem)
def test_gpu_preset_states_only_its_deltas(preset):
    # a value the shared base (or the BT defaults it sources) already sets is not repeated in the preset
    base = _assignments(ROOT / "configs/runs/_base_7b.env") | _assignments(ROOT / "configs/runs/_bt_defaults.env")
    assert _assignments(preset) & base == set()


def test_every_gpu_preset_sources_the_7b_base(tmp_path):
    # the LoRA (GPU) presets share one base; the CPU presets (tiny model, full fine-tune) do not need it
    # (directly, or through gbr_preset_base of a preset that does); smollm2_* presets are the real 135M judge,
    # which sets its own model and LoRA shape
    lora = [p for p in PRESETS if sourced(p, tmp_path)["TUNER_TYPE"] == "lora" and not p.name.startswith("smollm2")]
    assert len(lora) >= 6, [p.name for p in lora]
    base_line = 'source "$(dirname "${BASH_SOURCE[0]}")/_base_7b.env"'

    def has_base(p: Path) -> bool:
        text = p.read_text()
        if base_line in text:
            return True
        parents = re.findall(r'gbr_preset_base "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/([\w.]+)"', text)
        return any(has_base(p.parent / name) for name in parents)

    assert all(has_base(p) for p in lora), [p.name for p in lora if not has_base(p)]
