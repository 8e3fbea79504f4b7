"""`WeightedRewardTrainer`: ms-swift's RewardTrainer (scalar BT reward model) with density-weighted pair sampling.

Selected by `--external_plugins src/grpo_bt_rm/training/rm_plugin.py` (scripts/train_rm.sh passes it), which points
`TrainerFactory.TRAINER_MAPPING['rm']` here. Stock ms-swift 4.6.0, no fork:

    BT_PAIR_SAMPLING=uniform   the stock sampler (a seeded random permutation per epoch)
    BT_PAIR_SAMPLING=weighted  rm_sampler.weighted_sampler over the rows' `density_weight` column (with replacement)

The sampler plugs in where the HF Trainer asks for one (`_get_train_sampler`, as PairGRPOTrainer's does). The
weighted mode needs the column in the loaded dataset, so the launcher adds `--remove_unused_columns false`
(ms-swift otherwise keeps only its standard keys); our extra columns are dropped again before the forward.
"""

from __future__ import annotations

import logging
from pathlib import Path

from swift.rlhf_trainers import RewardTrainer

from grpo_bt_rm.data.rm import WEIGHT
from grpo_bt_rm.io import manifest_base, write_json
from grpo_bt_rm.training.rm_sampler import weighted_sampler
from grpo_bt_rm.training.settings import PairTrainSettings
from grpo_bt_rm.training.trainer import _show_info_logs

log = logging.getLogger("grpo_bt_rm.training.rm_trainer")

SETTINGS_FILE = "rm_settings.json"
# columns data.rm writes beside ms-swift's own (plus ms-swift's `dataset`), never model inputs
EXTRA_COLUMNS = ("pair_id", "pair_key", "prompt_id", WEIGHT, "dataset")


def dataset_weights(dataset) -> list:
    """The `density_weight` column of the training dataset as ms-swift loaded it (a LazyLLMDataset wraps the
    preprocessed rows in `.dataset`), in dataset order. Raises ValueError when the column is not there."""
    raw = getattr(dataset, "dataset", dataset)
    names = getattr(raw, "column_names", None)
    if names is None or WEIGHT not in names:
        raise ValueError(f"BT_PAIR_SAMPLING=weighted: the loaded training dataset has no '{WEIGHT}' column "
                         f"(columns: {names}); build it with `python -m grpo_bt_rm.data.rm --weights DIR`, keep "
                         "--lazy_tokenize on and pass --remove_unused_columns false (scripts/train_rm.sh does)")
    weights = list(raw[WEIGHT])
    if len(weights) != len(dataset):
        raise ValueError(f"{len(weights)} density weights for {len(dataset)} training rows")
    return weights


class WeightedRewardTrainer(RewardTrainer):
    """ms-swift's `RewardTrainer` with `BT_PAIR_SAMPLING` (uniform or density-weighted) pair sampling.

    Reads `PairTrainSettings` from the environment once, and on the main process writes them to
    `output_dir/SETTINGS_FILE` with a provenance manifest.

    Raises:
        ValueError: weighted sampling with sequence parallelism, or (from `dataset_weights`) a dataset without a
            usable `density_weight` column.
        SettingsError: a bad BT_* environment variable.
    """
    def __init__(self, *args, **kwargs):
        _show_info_logs()
        self.pair_settings = PairTrainSettings.from_env()
        super().__init__(*args, **kwargs)
        if self.pair_settings.pair_sampling == "weighted":
            if self.template.sequence_parallel_size > 1:
                raise ValueError("BT_PAIR_SAMPLING=weighted does not support sequence parallelism")
            self._weights = dataset_weights(self.train_dataset)
            n_pos = sum(w > 0 for w in self._weights)
            log.info("weighted pair sampling over %d rows (%d with weight > 0)", len(self._weights), n_pos)
        if self.accelerator.is_main_process:
            path = Path(self.args.output_dir) / SETTINGS_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {**manifest_base(kind="rm_settings"), "trainer": self.pair_settings.to_dict()})
            log.info("RM pair sampling: %s (written to %s)", self.pair_settings.pair_sampling, path)

    def _get_train_sampler(self, train_dataset=None):
        if self.pair_settings.pair_sampling != "weighted":
            return super()._get_train_sampler(train_dataset)
        if train_dataset is not None and train_dataset is not self.train_dataset:
            raise ValueError("BT_PAIR_SAMPLING=weighted: the sampler was asked for another dataset than the one "
                             "whose density weights were read")
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        preview = list(weighted_sampler(self._weights, seed))  # the same draw the returned sampler makes first
        log.info("weighted sampler in use: epoch draw of %d rows, %d distinct", len(preview), len(set(preview)))
        return weighted_sampler(self._weights, seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """RewardTrainer's loss, after dropping our extra columns (`EXTRA_COLUMNS`) from the batch."""
        inputs = {k: v for k, v in inputs.items() if k not in EXTRA_COLUMNS}
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)
