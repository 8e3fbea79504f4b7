"""Issue 15 §2: the new reward variants' presets source cleanly and leave no leftovers, the launcher's preflight
accepts each variant and rejects a bad setting naming it, and `train_grpo.sh cpu` trains with each variant."""

import json
import subprocess
from pathlib import Path

import pytest

from grpo_bt_rm.rewards import REWARD_VARIANTS, BTRewardSettings
from grpo_bt_rm.training.preflight import preflight
from tests.training import test_e2e as e2e
from tests.training.test_presets import sourced

ROOT = Path(__file__).resolve().parents[2]
NEW = {"binary": ["BT_REWARD_POS", "BT_REWARD_NEG"],
       "graded": ["BT_REWARD_WRONG", "BT_REWARD_LOW", "BT_REWARD_HIGH", "BT_GRADE_THRESH"],
       "graded_hardpair": ["BT_REWARD_WRONG", "BT_REWARD_LOW", "BT_REWARD_HIGH", "BT_GRADE_THRESH",
                           "BT_HARDPAIR_TAU"],
       "hard_margin": ["BT_MARGIN_GAMMA", "BT_MARGIN_TEMP", "BT_MARGIN_HARDMINE"]}
DEMO = ["baseline", "pair_shared", "hardmine", *NEW]  # the seven demo-task arms (density needs density data)


@pytest.mark.parametrize("preset", [f"hh_score100_{v}_T20" for v in NEW] + [f"demo_cpu_{v}" for v in DEMO])
def test_variant_preset_sets_its_reward_and_settings(preset, tmp_path):
    env = sourced(ROOT / f"configs/runs/{preset}.env", tmp_path)
    key = preset.removeprefix("hh_score100_").removesuffix("_T20").removeprefix("demo_cpu_")
    want = {"hardmine": "bt_pointwise_baseline_hardmine"}.get(key, f"bt_pointwise_{key}")
    assert env["REWARD_NAME"] == want and want in REWARD_VARIANTS
    missing = [v for v in NEW.get(key, []) if not env.get(v)]
    assert not missing, f"{preset} does not set {missing}"
    settings = BTRewardSettings.from_env(env)
    assert settings.reward_kinds == (REWARD_VARIANTS.get(want).reward,)
    assert env["OUT_DIR"].endswith(key if preset.startswith("demo") else preset)
    if preset.startswith("demo"):  # the demo arms differ only in the reward: same budget as demo_cpu.env
        base = sourced(ROOT / "configs/runs/demo_cpu.env", tmp_path)
        for v in ("NUM_GENERATIONS", "PER_DEVICE_TRAIN_BS", "LEARNING_RATE", "MAX_STEPS", "TEMPERATURE",
                  "BT_DELTA_TEMP", "BT_DELTA_CLIP", "BT_SCORE_PARSER"):
            assert env[v] == base[v], v


def test_resourcing_a_based_preset_leaves_no_leftovers(tmp_path):
    """A preset built on another (gbr_preset_base) owns what its base set: the next preset unsets all of it."""
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "GRPO_BT_RM_BASE_DIR": str(tmp_path)}
    show = 'echo "$REWARD_NAME|${BT_REWARD_POS-unset}|${BT_MARGIN_GAMMA-unset}|${TOP_K-unset}|$OUT_DIR"'
    out = subprocess.run(["bash", "-c", f"""set -u; cd {ROOT}
        source configs/runs/hh_score100_binary_T20.env; {show}
        source configs/runs/demo_cpu_hard_margin.env; {show}
        source configs/runs/tiny_cpu.env; {show}"""], env=env, capture_output=True, text=True, check=True)
    first, second, third = out.stdout.split()
    assert first == f"bt_pointwise_binary|1|unset|50|{tmp_path}/runs/hh_score100_binary_T20"
    assert second == f"bt_pointwise_hard_margin|unset|0.5|unset|{tmp_path}/demo/grpo_hard_margin"
    assert third == f"bt_pointwise_baseline|unset|unset|unset|{tmp_path}/runs/tiny_cpu"


def _argv(name, dataset):
    return ["rlhf", "--rlhf_type", "grpo", "--model", str(ROOT), "--dataset", str(dataset), "--reward_funcs", name,
            "--num_generations", "4", "--per_device_train_batch_size", "8"]


@pytest.mark.parametrize("key", NEW)
def test_preflight_accepts_each_variant_and_names_a_bad_setting(key, tmp_path):
    data = e2e.build_dataset(tmp_path / "train.jsonl")
    name = f"bt_pointwise_{key}"
    env = {"REWARD_NAME": name, "BT_SCORE_PARSER": "score100_first", "BT_DELTA_TEMP": "20"}
    assert preflight(_argv(name, data), env) == []
    bad = NEW[key][-1]  # the variant's last setting, made invalid
    errors = preflight(_argv(name, data), {**env, bad: "-1" if bad != "BT_REWARD_HIGH" else "0"})
    assert len(errors) == 1 and errors[0].startswith(bad), errors
    # an explicit failure reward above the variant's worst valid reward is rejected before swift starts
    errors = preflight(_argv(name, data), {**env, "BT_PARSE_FAIL_REWARD": "5"})
    assert errors and "BT_PARSE_FAIL_REWARD" in errors[0] and key.split("_hardpair")[0] in errors[0]


def _train(tmp_path, warm_model_dir, name):
    proc = e2e.launch(tmp_path, warm_model_dir, after_preset=f"export REWARD_NAME={name} MAX_STEPS=2 SAVE_STEPS=2 &&",
                      PER_DEVICE_TRAIN_BS="8", NPROC_PER_NODE="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"--reward_funcs {name}" in proc.stdout
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    assert calls and all(c["reward"] == name for c in calls)
    run_dir = next((tmp_path / "run").glob("v*-*"))
    written = json.loads((run_dir / "bt_reward_settings.json").read_text())["rewards"][name]
    logs = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    assert any("bt/pair_acc" in row for row in logs)
    return calls, written, logs


def test_train_grpo_sh_cpu_graded_hardpair(tmp_path, warm_model_dir):
    """The tiny end-to-end run with a new variant: the graded rewards and the sigma(-m/tau) weights reach the dump,
    the trainer's metrics and bt_reward_settings.json (with the variant's own derived failure reward)."""
    calls, written, logs = _train(tmp_path, warm_model_dir, "bt_pointwise_graded_hardpair")
    rewards = {r for c in calls for r, z in zip(c["rewards"], c["scores"]) if z is not None}
    assert rewards <= {0.0, 1.2, 1.4}
    weights = {w for c in calls for w in c["weights"]}
    assert weights and all(0 < w <= 1 for w in weights)
    assert written["derived"]["kind"] == "graded" and written["hardpair_tau"] == 1.0
    assert written["derived"]["fail_reward"]["score100_first"] == pytest.approx(-0.7)
    assert any(row.get("bt/mean_weight", 1) < 1 for row in logs)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["binary", "graded", "hard_margin"])
def test_train_grpo_sh_cpu_each_new_variant(tmp_path, warm_model_dir, key):
    calls, written, _ = _train(tmp_path, warm_model_dir, f"bt_pointwise_{key}")
    assert written["derived"]["kind"] == key
    valid = [r for c in calls for r, z in zip(c["rewards"], c["scores"]) if z is not None]
    assert valid and all(r > written["derived"]["fail_reward"]["score100_first"] for r in valid)
