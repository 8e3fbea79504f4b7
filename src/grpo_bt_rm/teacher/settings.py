"""The teacher front-end's settings: one frozen object built once from `teacher.generate`'s flags.

    settings = TeacherSettings.from_args(build_argparser().parse_args(argv))   # SettingsError names the flag

Field names are the flags' names. The API key is kept out of `repr` and `as_dict` (it is never logged or written).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from grpo_bt_rm.io import SettingsError
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args

# (flag, lowest allowed value): counts, sizes, rates and waits; None means "not given" and is not checked.
LOWER_BOUNDS = (("batch_size", 1), ("concurrency", 1), ("max_tokens", 1), ("n_pairs", 1), ("skip_pairs", 0),
                ("max_retries", 0), ("parse_retries", 0), ("rpm_limit", 0), ("timeout", 0.001),
                ("thinking_budget", 0), ("max_retry_wait", 0), ("batch_poll_s", 0), ("retry_base_delay", 0.001),
                ("max_backoff", 0.001), ("seed", 0), ("temperature", 0), ("price_in", 0), ("price_out", 0))
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


@dataclass(frozen=True)
class TeacherSettings:
    """Everything one `teacher.generate` run is told: teacher, data, request shaping and output.

    Units: timeout, batch_poll_s, retry_base_delay, max_backoff and max_retry_wait in seconds; rpm_limit in
    requests per minute (0 = no limit); price_in / price_out in USD per million tokens; max_tokens and
    thinking_budget in tokens.

    Raises:
        SettingsError: a value below its lower bound (message: `--<flag> must be >= <low>, got <value>`) or an
            unknown --reasoning_effort.
    """

    # teacher
    backend: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    plugin: tuple[str, ...] = ()
    max_tokens: int = 512
    temperature: float | None = None
    timeout: float = 120.0
    thinking_budget: int | None = None
    reasoning_effort: str | None = None
    # data
    dataset: str = "anthropic_hh"
    split: str = "train"
    data_files: tuple[str, ...] | None = None
    skip_bad: bool = False
    prompt: str | None = None
    scale: str | None = None
    n_pairs: int | None = None
    skip_pairs: int = 0
    seed: int = 0
    no_shuffle: bool = False
    # requests
    batch_size: int = 1
    pairwise: bool = False
    batch_api: bool = False
    batch_poll_s: float = 30.0
    concurrency: int = 8
    rpm_limit: float = 0.0
    max_retries: int = 5
    retry_base_delay: float = 1.0
    max_backoff: float = 60.0
    max_retry_wait: float = 600.0
    parse_retries: int = 1
    # output
    output_dir: str | None = None
    resume: bool = False
    retry_parse_failures: bool = False
    dry_run: bool = False
    price_in: float | None = None
    price_out: float | None = None
    no_progress: bool = False
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        object.__setattr__(self, "plugin", tuple(self.plugin or ()))
        if self.data_files is not None:
            object.__setattr__(self, "data_files", tuple(self.data_files))
        check_lower_bounds(self, LOWER_BOUNDS)
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise SettingsError(f"--reasoning_effort {self.reasoning_effort!r}: expected one of "
                                f"{', '.join(REASONING_EFFORTS)}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TeacherSettings:
        """The settings from `teacher.generate.build_argparser()`'s parsed flags."""
        return settings_from_args(cls, args)

    def as_dict(self) -> dict:
        """Every setting but the API key."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "api_key"}
