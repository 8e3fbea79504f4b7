"""`PairGRPOTrainer`: ms-swift's GRPOTrainer with pair-aware sampling, post-normalisation pair weights,
an optional reward-std floor, BT diagnostics in the trainer metrics, and no redundant "old log-probs" forward when
training is on-policy (BT_SKIP_OLD_LOGPS). Stock ms-swift 4.6.0, no fork.

Selected by `import grpo_bt_rm.training.swift_plugin` (done by `--external_plugins src/grpo_bt_rm/training/plugin.py`),
which points `TrainerFactory.TRAINER_MAPPING['grpo']` here.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from accelerate.utils import gather
from swift.rlhf_trainers import GRPOTrainer

from grpo_bt_rm.data.pairs import dataset_column
from grpo_bt_rm.data.pointwise import read_pointwise
from grpo_bt_rm.io import manifest_base, write_json
from grpo_bt_rm.prompts.prefill import response_prefix_of
from grpo_bt_rm.rewards import STAT_KEYS, summarize
from grpo_bt_rm.training.advantages import FLOOR_SCALE_MODES, apply_pair_weights, floor_reward_std
from grpo_bt_rm.training.orm import BTRewardORM
from grpo_bt_rm.training.sampler import PairRepeatSampler
from grpo_bt_rm.training.settings import PairTrainSettings

log = logging.getLogger("grpo_bt_rm.training.trainer")

SETTINGS_FILE = "bt_reward_settings.json"


class PairConfigError(ValueError):
    """The GRPO configuration would split pairs or otherwise break the pairwise reward."""


def check_pair_config(args, settings: PairTrainSettings) -> None:
    """Start-up checks on the GRPO arguments that need no model or dataset."""
    k = args.num_generations
    per_gen = args.per_device_train_batch_size * args.steps_per_generation
    if per_gen % (2 * k):
        raise PairConfigError(
            f"per_device_train_batch_size ({args.per_device_train_batch_size}) x steps_per_generation "
            f"({args.steps_per_generation}) = {per_gen} must be a multiple of 2 x num_generations ({2 * k}), so "
            "each process's share of a generation batch holds whole pairs (side 0 xK then side 1 xK)")
    if getattr(args, "dynamic_sample", False):
        raise PairConfigError("dynamic_sample is not supported: it drops and refills rows one by one, which splits "
                              "pairs; turn it off (BT_MIN_REWARD_STD is the pair-safe way to handle flat groups)")
    if settings.min_reward_std > 0:
        if args.scale_rewards not in FLOOR_SCALE_MODES:
            raise PairConfigError(f"BT_MIN_REWARD_STD>0 needs scale_rewards in {FLOOR_SCALE_MODES}, got "
                                  f"{args.scale_rewards!r}")
        if getattr(args, "advantage_estimator", "grpo") not in ("grpo", "rloo") or getattr(args, "kl_in_reward",
                                                                                            False):
            raise PairConfigError("BT_MIN_REWARD_STD>0 supports advantage_estimator grpo/rloo without kl_in_reward")


def check_dataset_files(output_dir: str | Path) -> list[str]:
    """Check the local training/validation files named in the run's args.json (ms-swift writes it before building
    the trainer) with the shared pointwise reader: schema, whole pairs, one preferred_side per pair, reported with
    the files' line numbers. Returns the files checked."""
    args_json = Path(output_dir) / "args.json"
    if not args_json.is_file():
        log.warning("%s not found: the dataset files are checked only as loaded rows", args_json)
        return []
    run_args = json.loads(args_json.read_text(encoding="utf-8"))
    checked = []
    for key in ("dataset", "val_dataset"):
        for entry in run_args.get(key) or []:
            path = Path(str(entry).split("#")[0])  # ms-swift's `file#N` subsamples N rows
            if path.suffix == ".jsonl" and path.is_file():
                read_pointwise(path)
                checked.append(str(path))
    return checked


def _show_info_logs() -> None:
    """ms-swift sets up only its own logger, so our INFO lines (start-up checks, settings, the old-log-prob path)
    would be dropped in a `swift rlhf` run; give the package logger a handler unless logging is configured already."""
    pkg = logging.getLogger("grpo_bt_rm")
    if not pkg.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s:%(name)s] %(message)s"))
        pkg.addHandler(handler)
        pkg.setLevel(logging.INFO)


def _has_column(dataset, name: str) -> bool:
    if dataset is None:
        return False
    if isinstance(dataset, dict):  # several eval datasets
        return any(_has_column(d, name) for d in dataset.values())
    names = getattr(dataset, "column_names", None)
    if names is not None:
        return name in names
    return len(dataset) > 0 and name in dataset[0]


def old_logps_needed(trainer) -> str | None:
    """Why ms-swift's no-grad "old log-probs" forward must run for this trainer, or None when it is redundant.

    It is redundant exactly when the completions were generated by the weights being trained and each generation
    batch is consumed within one optimizer step (as TRL decides): then old log-probs equal the current ones, and
    ms-swift's loss falls back to `per_token_logps.detach()` when `old_per_token_logps` is None. Anything that reads
    the old log-probs before the loss, or compares them with another policy, keeps the forward.
    With dropout active (ms-swift's lora_dropout=0.05), the stock forward draws its own dropout mask, so its ratio
    is exp(noise) rather than 1; skipping makes it exactly 1. With dropout 0 both paths give the same loss.
    """
    args = trainer.args
    if trainer.num_iterations > 1:
        return f"num_iterations={trainer.num_iterations} (importance ratios across optimizer steps)"
    if trainer.old_policy():  # ms-swift's own test: gradient_accumulation_steps % steps_per_generation != 0
        return (f"gradient_accumulation_steps={args.gradient_accumulation_steps} is not a multiple of "
                f"steps_per_generation={args.steps_per_generation} (a generation batch outlives an optimizer step)")
    if getattr(args, "use_vllm", False):
        return "use_vllm (rollout weights may lag; rollout importance sampling compares against old log-probs)"
    if getattr(args, "async_generate", False):
        return "async_generate (completions come from the previous step's weights)"
    if trainer.beta != 0.0 and trainer.kl_in_reward:
        return "kl_in_reward (the advantages read old - ref log-probs)"
    if trainer._has_teacher_explicit():
        return "a teacher model (the advantages read the old log-probs)"
    if getattr(trainer, "_is_dynamic_self_distillation", False) and any(
            _has_column(ds, "teacher_prompt") for ds in (trainer.train_dataset, trainer.eval_dataset)):
        return "teacher_prompt rows (self-distillation: the advantages read the old log-probs)"
    if trainer.rollout_importance_sampling_mode is not None or trainer.log_rollout_offpolicy_metrics:
        return "rollout importance sampling / off-policy metrics"
    if getattr(trainer, "use_liger_loss", False):
        return "use_liger_kernel (the fused loss path is not covered by our equality tests)"
    return None


class PairGRPOTrainer(GRPOTrainer):
    """ms-swift's `GRPOTrainer` with pair-aware sampling, pair weights, a reward-std floor and BT diagnostics.

    See the module doc. Reads `PairTrainSettings` from the environment and checks the pair batch layout and the
    local dataset files before ms-swift starts.

    Raises:
        PairConfigError: the batch sizes split pairs, truncation_strategy "raise", or sequence parallelism.
        SettingsError: a bad BT_* environment variable.
    """
    def __init__(self, *args, **kwargs):
        _show_info_logs()
        self.pair_settings = PairTrainSettings.from_env()
        check_pair_config(kwargs["args"], self.pair_settings)
        # Only the main process checks: it wrote args.json before building the trainer, while another rank reading it
        # then can catch rank 0 mid-write (a JSONDecodeError that killed 2-process runs). A bad file still stops the
        # whole job, since rank 0 raises.
        if getattr(kwargs["args"], "process_index", 0) == 0:
            checked = check_dataset_files(kwargs["args"].output_dir)
            log.info("dataset files checked (schema, whole pairs, preferred_side): %s", checked or "none local")
        super().__init__(*args, **kwargs)
        if getattr(self.template, "truncation_strategy", None) == "raise":
            raise PairConfigError("truncation_strategy 'raise' resamples rows one by one (splitting pairs); use "
                                  "'left' or 'delete'")
        if getattr(self.template, "sequence_parallel_size", 1) > 1:
            raise PairConfigError("sequence parallelism is not supported by PairGRPOTrainer")
        self._bt_funcs = [f for f in self.reward_funcs if isinstance(f, BTRewardORM)]
        prefix = response_prefix_of(self.template)
        for f in self._bt_funcs:  # ms-swift builds reward functions from the training args, which lack the prefix
            if f.response_prefix is None:
                f.response_prefix = prefix
        if not self._bt_funcs:
            log.warning("no grpo_bt_rm reward function among %s: pair weights and BT diagnostics are off",
                        self.reward_func_names)
        if self.pair_settings.pair_sampling == "weighted" and any(f.variant == "bt_pointwise_density"
                                                                  for f in self._bt_funcs):
            log.warning("BT_PAIR_SAMPLING=weighted with bt_pointwise_density applies density_weight twice (in the "
                        "sampling and on the advantages); use one of them")
        self._pair_weights: torch.Tensor | None = None
        self._old_logps_pending = False  # True only inside _prepare_batch_inputs when the old forward is skipped
        needed = old_logps_needed(self)
        self._skip_old_logps = self.pair_settings.skip_old_logps and needed is None
        if self._skip_old_logps:
            self._old_logps_path = "skipped (on-policy)"
            log.info("old log-probs forward: skipped (on-policy: num_iterations=1, gradient_accumulation_steps %% "
                     "steps_per_generation == 0, HF rollouts); the loss uses the detached current log-probs")
        else:
            self._old_logps_path = f"kept ({'BT_SKIP_OLD_LOGPS=0' if needed is None else needed})"
            log.info("old log-probs forward: %s", self._old_logps_path)
        self._check_dataset_parsers()
        if self.accelerator.is_main_process:
            self._write_settings()

    # --- start-up -------------------------------------------------------------------------------------------
    def _check_dataset_parsers(self) -> None:
        """Reject an explicit BT_PARSE_FAIL_REWARD that is not below every parser the dataset uses."""
        names = dataset_column(self.train_dataset, "parser_name") if self.train_dataset is not None else None
        for f in self._bt_funcs:
            if f.settings.parser is None and names is None:
                raise PairConfigError("BT_SCORE_PARSER is not set and the training dataset has no parser_name "
                                      "column: set BT_SCORE_PARSER or build the dataset with --add_meta")
            for name in ({f.settings.parser} if f.settings.parser else set(names)):
                f.settings.fail_reward(name, f.kind)  # raises SettingsError naming BT_PARSE_FAIL_REWARD

    def _write_settings(self) -> None:
        out = {
            **manifest_base(kind="bt_reward_settings"),
            "reward_funcs": self.reward_func_names,
            "rewards": {f.variant: {**f.settings.to_dict(f.kind), "response_prefix": f.response_prefix}
                        for f in self._bt_funcs},
            "trainer": self.pair_settings.to_dict(),
            "old_logps_forward": self._old_logps_path,
            "num_generations": self.num_generations,
            "scale_rewards": self.scale_rewards,
        }
        path = Path(self.args.output_dir) / SETTINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, out)
        log.info("BT settings: %s (written to %s)", out["rewards"] or "(no BT reward)", path)

    # --- old log-probs --------------------------------------------------------------------------------------
    # ms-swift's _prepare_batch_inputs computes, per micro-batch and under no_grad, the old log-probs with
    # self.model first, then the reference log-probs (self.ref_model, or self.model inside null_ref_context).
    # While it runs, the policy's own no-grad forward returns None, so grpo_batch.old_per_token_logps stays None.
    def _prepare_batch_inputs(self, samples):
        self._old_logps_pending = self._skip_old_logps
        try:
            return super()._prepare_batch_inputs(samples)
        finally:
            self._old_logps_pending = False

    @contextmanager
    def null_ref_context(self):
        """The parent's reference-model context, with the skipped old-log-prob state cleared inside it
        (the reference forward always runs).
        """
        pending, self._old_logps_pending = self._old_logps_pending, False  # the reference forward always runs
        try:
            with super().null_ref_context():
                yield
        finally:
            self._old_logps_pending = pending

    def _get_per_token_logps_and_entropies(self, model, model_inputs, grpo_batch, compute_entropy=False,
                                           origin_data=None):
        if self._old_logps_pending and model is self.model and not torch.is_grad_enabled():
            return None, None
        return super()._get_per_token_logps_and_entropies(model, model_inputs, grpo_batch,
                                                          compute_entropy=compute_entropy, origin_data=origin_data)

    # --- sampling -------------------------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return PairRepeatSampler.from_dataset(
            dataset,
            weighted=self.pair_settings.pair_sampling == "weighted",
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )

    def _get_eval_sampler(self, eval_dataset):
        k = self.num_generations_eval
        if self.args.per_device_eval_batch_size % (2 * k):
            log.warning("per_device_eval_batch_size %d is not a multiple of 2 x num_generations_eval (%d): eval "
                        "reward calls may hold one side of a pair (scored as ties)",
                        self.args.per_device_eval_batch_size, 2 * k)
        return PairRepeatSampler.from_dataset(eval_dataset, mini_repeat_count=k, batch_size=2, shuffle=False,
                                              seed=self.args.seed)

    # --- rewards, weights, diagnostics ----------------------------------------------------------------------
    def _compute_rewards_per_func(self, samples):
        total = super()._compute_rewards_per_func(samples)
        if not self._bt_funcs:
            return total
        device = self.accelerator.device
        weights = torch.ones(len(samples), dtype=torch.float32, device=device)
        stats = torch.zeros(len(STAT_KEYS), dtype=torch.float64, device=device)
        for f in self._bt_funcs:
            out, f.last = f.last, None
            if out is None or len(out.weights) != len(samples):
                raise RuntimeError(f"{f.variant}: no reward result for this batch of {len(samples)} completions")
            weights *= torch.tensor(out.weights, dtype=torch.float32, device=device)
            stats += torch.tensor([out.stats[k] for k in STAT_KEYS], dtype=torch.float64, device=device)
        self._pair_weights = gather(weights)
        stats = gather(stats.unsqueeze(0)).sum(dim=0).tolist()
        mode = "train" if self.model.training else "eval"
        for key, value in summarize(dict(zip(STAT_KEYS, stats))).items():
            self._metrics[mode][f"bt/{key}"].append(value)
        return total

    def _compute_advantages(self, samples, rewards_per_func, batch_encoded_inputs):
        advantages = super()._compute_advantages(samples, rewards_per_func, batch_encoded_inputs)
        if self.pair_settings.min_reward_std > 0:
            mode = "train" if self.model.training else "eval"
            k = self.num_generations if mode == "train" else self.num_generations_eval
            rewards = (rewards_per_func * self.reward_weights.unsqueeze(0)).nansum(dim=1)
            advantages = floor_reward_std(advantages, rewards, k, self.scale_rewards,
                                          self.pair_settings.min_reward_std)
        weights, self._pair_weights = self._pair_weights, None
        # Train and eval both score and normalise the gathered batch, so the shapes always agree; a mismatch is a
        # bug (or an unsupported ms-swift path) and raises here rather than silently training unweighted.
        return apply_pair_weights(advantages, weights)
