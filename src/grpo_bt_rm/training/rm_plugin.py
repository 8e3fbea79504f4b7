"""The `--external_plugins` file for `swift rlhf --rlhf_type rm` (scripts/train_rm.sh passes it).

ms-swift imports this file under a generated module name; it points the `rm` trainer at WeightedRewardTrainer
(density-weighted pair sampling with BT_PAIR_SAMPLING=weighted; ms-swift's own sampling otherwise).
"""

from swift.trainers import TrainerFactory

from grpo_bt_rm.training.rm_trainer import WeightedRewardTrainer

TrainerFactory.TRAINER_MAPPING["rm"] = f"{WeightedRewardTrainer.__module__}.{WeightedRewardTrainer.__name__}"
