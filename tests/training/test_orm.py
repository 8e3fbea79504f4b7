"""ORM adapters: registered in swift.rewards.orms, usable with args=None, BT_REWARD_DUMP lines."""

import json

import pytest

import grpo_bt_rm.training.swift_plugin as plugin
from grpo_bt_rm.rewards import REWARD_VARIANTS, SettingsError


def test_registered(monkeypatch):
    from swift.rewards import orms
    from swift.trainers import TrainerFactory

    for name in REWARD_VARIANTS:
        assert orms[name].variant == name
    assert TrainerFactory.TRAINER_MAPPING["grpo"] == "grpo_bt_rm.training.trainer.PairGRPOTrainer"
    cls = TrainerFactory.get_cls(type("A", (), {"rlhf_type": "grpo", "task_type": "causal_lm"})(),
                                 TrainerFactory.TRAINER_MAPPING) if hasattr(TrainerFactory, "get_cls") else None
    if cls is not None:
        assert cls.__name__ == "PairGRPOTrainer"


def test_unit_call_and_dump(tmp_path, monkeypatch):
    dump = tmp_path / "dump.jsonl"
    monkeypatch.setenv("BT_REWARD_DUMP", str(dump))
    monkeypatch.setenv("BT_SCORE_PARSER", "score5_first")
    orm = plugin.ORM_CLASSES["bt_pointwise_baseline_hardmine"](args=None)
    cols = dict(pair_id=[7, 7, 7, 7], side=[0, 0, 1, 1], preferred_side=[1] * 4)
    rewards = orm(["<s>1</s>", "bad", "<s>5</s>", "<s>4</s>"], **cols)
    assert len(rewards) == 4 and rewards[1] < min(rewards[0], rewards[2], rewards[3])
    assert orm.last.weights == [0.2] * 4  # m = (4.5 - 1)/1 >= tau
    orm(["<s>3</s>"] * 4, **cols)
    lines = [json.loads(x) for x in dump.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["pair_id"] == [7] * 4 and lines[0]["side"] == [0, 0, 1, 1]
    assert lines[0]["scores"] == [1.0, None, 5.0, 4.0] and lines[0]["rewards"] == rewards
    assert lines[1]["weights"] == [0.5] * 4  # tie: m = 0 -> lambda


def test_bad_env_fails_at_construction(monkeypatch):
    monkeypatch.setenv("BT_DELTA_TEMP", "0")
    with pytest.raises(SettingsError, match="BT_DELTA_TEMP"):
        plugin.ORM_CLASSES["bt_pointwise_baseline"](args=None)
