"""Register grpo_bt_rm with ms-swift: every BT reward name in `swift.rewards.orms`, and PairGRPOTrainer as the
`grpo` trainer. Importing this module is the whole plugin (see plugin.py for the `--external_plugins` file).

    swift rlhf --rlhf_type grpo --external_plugins src/grpo_bt_rm/training/plugin.py \
        --reward_funcs bt_pointwise_baseline ...
"""

from __future__ import annotations

from swift.rewards import orms
from swift.trainers import TrainerFactory

from grpo_bt_rm.training.orm import ORM_CLASSES
from grpo_bt_rm.training.trainer import PairGRPOTrainer

TRAINER_PATH = f"{PairGRPOTrainer.__module__}.{PairGRPOTrainer.__name__}"


def register() -> None:
    """Idempotent: (re)register the reward classes and the trainer."""
    for name, cls in ORM_CLASSES.items():
        orms[name] = cls
    TrainerFactory.TRAINER_MAPPING["grpo"] = TRAINER_PATH


register()
