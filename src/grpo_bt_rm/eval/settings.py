"""The eval commands' settings: one frozen, self-validating object per command, built once from its flags.

    args = eval_bt.build_argparser().parse_args(argv)
    settings = EvalSettings.from_args(args)        # SettingsError naming the flag on a bad combination

`JudgeSettings` holds what opening a judge needs (model, data, sampling); `EvalSettings` (eval_bt) and
`VarianceSettings` (variance) add their metrics and outputs. Field names are the flags' names, so a result's
`args` record and the sweep's staleness check read them unchanged. Resolved values (the prompt a run trained on,
its BT temperature) are not written back here: the judge and the result carry them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from grpo_bt_rm.argtypes import COUNT, POSITIVE, SEED, float_in, int_at_least
from grpo_bt_rm.data.adapters import ADAPTERS
from grpo_bt_rm.eval.engine import SamplingSettings
from grpo_bt_rm.eval.expected_score import SCORINGS
from grpo_bt_rm.io import InputError, SettingsError
from grpo_bt_rm.parsing import PARSERS, check_reasoning_tag
from grpo_bt_rm.prompts import PROMPTS
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args

ENGINES = ("transformers", "vllm")

S = TypeVar("S", bound="JudgeSettings")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """Generation flags: --n_samples, --do_sample, --temperature, --top_p, --top_k, --max_new_tokens, --batch_pairs."""
    p.add_argument("--n_samples", type=COUNT, default=1, help="completions per side; a side's score is their mean")
    p.add_argument("--do_sample", action="store_true", help="sample (default: greedy, deterministic)")
    p.add_argument("--temperature", type=POSITIVE, default=0.7, help="sampling temperature (with --do_sample)")
    p.add_argument("--top_p", type=float_in(0, 1, low_open=True), default=0.9, help="nucleus sampling mass (with --do_sample)")
    p.add_argument("--top_k", type=int_at_least(0), default=50, help="top-k sampling, 0 = off (with --do_sample)")
    p.add_argument("--max_new_tokens", type=COUNT, default=128, help="generation length limit per completion")
    p.add_argument("--batch_pairs", type=COUNT, default=8,
                   help="pairs per engine call; each call generates 2 * batch_pairs * n_samples completions")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Which judge to load and how: --run_dir, --checkpoint, --model, --template, --system, --model_type, --dtype,
    --device, --engine, --response_prefix."""
    p.add_argument("--run_dir", default=None,
                   help="ms-swift run dir holding args.json (or an output dir of vN-<time>/ runs: the newest wins); "
                   "its base model, template and system prompt are used")
    p.add_argument("--checkpoint", default=None,
                   help="'base' (or checkpoint-0) = the run's base model; checkpoint-N (under --run_dir) or a path "
                   "to a LoRA adapter dir or a full model dir. Anything else is an error")
    p.add_argument("--model", default=None, help="base model dir when there is no args.json (overrides its 'model')")
    p.add_argument("--template", default=None, help="ms-swift template, only when the model has no args.json")
    p.add_argument("--system", default=None, help="system prompt, only when the model has no args.json")
    p.add_argument("--model_type", default=None,
                   help="ms-swift model type (e.g. qwen2), only when the model has no args.json and auto-detection "
                   "is ambiguous")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), fp32, bf16 or fp16")
    p.add_argument("--device", default=None, help="torch device (default cuda if available, else cpu)")
    p.add_argument("--engine", choices=ENGINES, default="transformers",
                   help="generation engine; vllm is optional and GPU only")
    p.add_argument("--response_prefix", default=None,
                   help="assistant pre-fill the judge continues from, as ms-swift --response_prefix (\\n = newline); "
                   "default: the run's args.json. '<s>' makes a base judge start inside the score tag; "
                   "'<think>\\n\\n</think>\\n\\n' turns thinking off for Qwen3-style templates")


def add_data_args(p: argparse.ArgumentParser) -> None:
    """Which pairs and how they are judged: --dataset, --split, --data_files, --n_pairs, --data_seed, --prompt,
    --parser, --reasoning_tag."""
    p.add_argument("--dataset", default="summarize_from_feedback", help=f"pair source, one of {ADAPTERS.names()}")
    p.add_argument("--split", default=None,
                   help="split (default: validation for summarize_from_feedback, test otherwise)")
    p.add_argument("--data_files", action="extend", nargs="+", default=None, metavar="FILE",
                   help="local raw-format file(s) instead of the hub; several values and repeatable, globs allowed")
    p.add_argument("--n_pairs", type=int_at_least(0), default=500, help="pairs to evaluate (0 = all)")
    p.add_argument("--data_seed", type=SEED, default=0,
                   help="seed that picks the pair subset and which response is side 0 (fixed across --seed)")
    p.add_argument("--prompt", default=None,
                   help="judge prompt (default: the prompt_name in the run's training rows, else the dataset "
                   "family's: hh_score100_v1, score100_v1 or generic_score100_v1); "
                   f"one of {PROMPTS.names()}")
    p.add_argument("--parser", default=None, help=f"score parser (default: the prompt's), one of {PARSERS.names()}")
    p.add_argument("--reasoning_tag", default=None,
                   help="reasoning blocks <TAG>...</TAG> are removed before the score is read (default: think; "
                   "'' = none). A block that never closes gives no score")


SCORERS = ("generative", "scalar")


@dataclass(frozen=True)
class JudgeSettings:
    """What opening a judge needs: the model, the pairs and how to sample. One field per flag, same name.

    Raises:
        SettingsError: on construction, when a value or a combination is invalid; the message names the flag.
    """

    # model
    run_dir: str | None = None
    checkpoint: str | None = None
    model: str | None = None
    template: str | None = None
    system: str | None = None
    model_type: str | None = None
    dtype: str = "auto"
    device: str | None = None
    engine: str = "transformers"
    response_prefix: str | None = None
    # data
    dataset: str = "summarize_from_feedback"
    split: str | None = None
    data_files: tuple[str, ...] | None = None
    n_pairs: int = 500
    data_seed: int = 0
    prompt: str | None = None
    parser: str | None = None
    reasoning_tag: str | None = None
    # sampling
    n_samples: int = 1
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    max_new_tokens: int = 128
    batch_pairs: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.data_files is not None and not isinstance(self.data_files, tuple):
            object.__setattr__(self, "data_files", tuple(self.data_files))
        if self.engine not in ENGINES:
            raise SettingsError(f"--engine {self.engine!r}: expected one of {', '.join(ENGINES)}")
        check_lower_bounds(self, (("n_pairs", 0), ("data_seed", 0), ("seed", 0), ("batch_pairs", 1), ("top_k", 0)))
        if self.reasoning_tag is not None:
            try:
                check_reasoning_tag(self.reasoning_tag)
            except ValueError as e:
                raise SettingsError(f"--reasoning_tag: {e}") from None
        try:
            self.sampling()
        except InputError as e:
            raise SettingsError(str(e)) from None

    def sampling(self) -> SamplingSettings:
        """The engine's sampling settings (validated).

        Raises:
            InputError: an invalid sampling combination (e.g. --n_samples > 1 without --do_sample).
        """
        return SamplingSettings(self.n_samples, self.do_sample, self.temperature, self.top_p, self.top_k,
                                self.max_new_tokens).validate()

    def default_split(self) -> str:
        """--split, else the dataset's evaluation split: validation for summarize_from_feedback, test otherwise."""
        return self.split or ("validation" if self.dataset == "summarize_from_feedback" else "test")

    @classmethod
    def from_args(cls: type[S], args: argparse.Namespace, **overrides: Any) -> S:
        """The settings from parsed flags (those this class has; others are ignored), then `overrides`.

        Raises:
            SettingsError: as the constructor.
        """
        return settings_from_args(cls, args, **overrides)

    def as_dict(self) -> dict:
        """Every field by flag name (JSON-ready: tuples become lists when dumped)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalSettings(JudgeSettings):
    """eval_bt's settings: the judge's plus the metrics and where results go.

    Fields beyond `JudgeSettings` (flag names): bt_temp (BT temperature T, None = the run's BT_DELTA_TEMP, else 1),
    report_margins, report_uncertainty, unc_low / unc_high (score units), n_boot (bootstrap resamples),
    out_json, save_completions, from_completions (rescore a completions file; no model loaded), no_plot,
    scorer (generative: the judge writes scores; scalar: a reward model with a value head, see eval.scalar),
    scoring (text: the score as written; expected: its last digit replaced by the judge's expected digit, see
    eval.expected_score).
    """

    bt_temp: float | None = None
    report_margins: bool = False
    report_uncertainty: bool = False
    unc_low: float | None = None
    unc_high: float | None = None
    n_boot: int = 1000
    out_json: str | None = None
    save_completions: str | None = None
    from_completions: str | None = None
    no_plot: bool = False
    scorer: str = "generative"
    scoring: str = "text"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scorer not in SCORERS:
            raise SettingsError(f"--scorer {self.scorer!r}: expected one of {', '.join(SCORERS)}")
        if self.scoring not in SCORINGS:
            raise SettingsError(f"--scoring {self.scoring!r}: expected one of {', '.join(SCORINGS)}")
        if self.scoring == "expected" and self.scorer == "scalar":
            raise SettingsError("--scoring expected reads a generative judge's digit probabilities; --scorer scalar "
                                "has none")
        if self.scoring == "expected" and self.engine == "vllm" and not self.from_completions:
            raise SettingsError("--scoring expected needs --engine transformers: the vllm engine records no digit "
                                "log-probabilities")
        if self.bt_temp is not None and not (math.isfinite(self.bt_temp) and self.bt_temp > 0):
            raise SettingsError(f"--bt_temp {self.bt_temp}: expected a finite number > 0")
        check_lower_bounds(self, (("n_boot", 1),))


@dataclass(frozen=True)
class VarianceSettings(JudgeSettings):
    """variance's settings: the judge's (always sampled) plus shards, metrics and outputs.

    Fields beyond `JudgeSettings`: range_thresholds (the flag's text, e.g. "10,20,30"; parsed: `thresholds`),
    unc_low / unc_high, shard_id / num_shards (this process takes batches b % num_shards == shard_id),
    save_jsonl, out_json, no_plot.
    """

    n_pairs: int = 50
    n_samples: int = 8
    do_sample: bool = True
    batch_pairs: int = 4
    range_thresholds: str = "10,20,30,40"
    unc_low: float | None = None
    unc_high: float | None = None
    shard_id: int = 0
    num_shards: int = 1
    save_jsonl: str | None = None
    out_json: str | None = None
    no_plot: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.shard_id < self.num_shards:
            raise SettingsError(f"--shard_id {self.shard_id} must be in [0, --num_shards {self.num_shards})")
        if self.n_samples < 2:
            raise SettingsError(f"--n_samples must be >= 2 to measure variance, got {self.n_samples}")
        if not self.do_sample:
            raise SettingsError("variance samples every side: do_sample must be True")
        super().__post_init__()
        parse_thresholds(self.range_thresholds)

    @property
    def thresholds(self) -> list[float]:
        """--range_thresholds as numbers (score units)."""
        return parse_thresholds(self.range_thresholds)


def parse_thresholds(text: str) -> list[float]:
    """'10,20,30' (commas or spaces) -> [10.0, 20.0, 30.0].

    Raises:
        SettingsError: a value is not a number, or is negative.
    """
    try:
        vals = [float(t) for t in text.replace(" ", ",").split(",") if t]
    except ValueError:
        raise SettingsError(f"--range_thresholds {text!r}: expected comma-separated numbers like 10,20,30") from None
    if any(v < 0 for v in vals):
        raise SettingsError(f"--range_thresholds {text!r}: thresholds must be >= 0")
    return vals
