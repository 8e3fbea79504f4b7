"""`BTRewardSettings`: every Bradley-Terry reward setting, read once from the environment and validated.

    settings = BTRewardSettings.from_env()            # raises SettingsError naming the bad variable
    settings.fail_reward("score100_first")             # what an unparseable completion earns

Variables (reference names): BT_SCORE_PARSER, BT_DELTA_TEMP, BT_DELTA_CLIP, BT_DELTA_NEG_CLIP, BT_REWARD_SCALE,
BT_REWARD_OFFSET, BT_PARSE_FAIL_REWARD, BT_HARD_LAMBDA, BT_HARD_TAU, BT_HARD_EPS, and BT_REASONING_TAG (the
reasoning-block tag the parser removes before reading the score, default `think`; empty = none). The binary,
graded and hard-margin rewards (issue 15 §2): BT_REWARD_POS, BT_REWARD_NEG; BT_REWARD_WRONG, BT_REWARD_LOW,
BT_REWARD_HIGH, BT_GRADE_THRESH, BT_HARDPAIR_TAU; BT_MARGIN_GAMMA, BT_MARGIN_TEMP, BT_MARGIN_HARDMINE.
REWARD_NAME (the launcher's reward list) says which rewards an explicit BT_PARSE_FAIL_REWARD must sit below.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from grpo_bt_rm.io import SettingsError  # the one settings error: cli.run_cli turns it into one line
from grpo_bt_rm.parsing import DEFAULT_REASONING_TAG, PARSERS, check_reasoning_tag, get_parser
from grpo_bt_rm.rewards import transform
from grpo_bt_rm.rewards.variants import REWARD_VARIANTS

# How far below the lowest attainable valid reward the default parse-failure reward sits, in units of s:
# ln 2 is the gap between a tie, R(0) = s*ln(1/2) + o, and a perfect answer, R(+inf) = o.
FAIL_MARGIN = math.log(2.0)


def _float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r}: expected a finite number")
    return value


@dataclass(frozen=True)
class BTRewardSettings:
    """Resolved reward settings. `parser=None` means: use each row's `parser_name` column."""

    parser: str | None = None
    delta_temp: float = 1.0  # T
    delta_clip: float = 0.0  # C: cap x at +C (0 = off)
    delta_neg_clip: float = 0.0  # NC: floor x at -NC (0 = off)
    reward_scale: float = 1.0  # s
    reward_offset: float = 0.0  # o
    parse_fail_reward: float | None = None  # None = derived per parser (see fail_reward)
    hard_lambda: float = 0.5
    hard_tau: float = 0.25
    hard_eps: float = 0.2
    reasoning_tag: str = DEFAULT_REASONING_TAG  # <tag>...</tag> blocks never count ("" = no reasoning blocks)
    reward_pos: float = 1.0  # binary: right side
    reward_neg: float = 1.0  # binary: wrong side or tie earns -reward_neg
    reward_wrong: float = 0.0  # graded: t <= 0
    reward_low: float = 1.2  # graded: 0 < t < grade_thresh
    reward_high: float = 1.4  # graded: t >= grade_thresh
    grade_thresh: float = 0.1  # graded: in units of T
    hardpair_tau: float = 1.0  # graded_hardpair: tau of the pair weight sigma(-m/tau)
    margin_gamma: float = 0.5  # hard_margin: target margin gamma, in units of T
    margin_temp: float = 1.0  # hard_margin: T_m
    margin_hardmine: bool = True  # hard_margin: w = the hard-mining weight (False: w = 1)
    reward_kinds: tuple[str, ...] = ("bt",)  # the run's reward kinds: an explicit fail reward is checked against each

    def __post_init__(self):
        try:
            check_reasoning_tag(self.reasoning_tag)
        except ValueError as e:
            raise SettingsError(f"BT_REASONING_TAG: {e}") from None
        if self.parser is not None:
            try:
                get_parser(self.parser)
            except KeyError as e:
                raise SettingsError(f"BT_SCORE_PARSER: {e.args[0]}") from None
        checks = [
            ("BT_DELTA_TEMP", self.delta_temp, self.delta_temp > 0, "> 0"),
            ("BT_DELTA_CLIP", self.delta_clip, self.delta_clip >= 0, ">= 0 (0 = off)"),
            ("BT_DELTA_NEG_CLIP", self.delta_neg_clip, self.delta_neg_clip >= 0, ">= 0 (0 = off)"),
            ("BT_REWARD_SCALE", self.reward_scale, self.reward_scale > 0, "> 0"),
            ("BT_HARD_LAMBDA", self.hard_lambda, self.hard_lambda >= 0, ">= 0"),
            ("BT_HARD_TAU", self.hard_tau, self.hard_tau >= 0, ">= 0"),
            ("BT_HARD_EPS", self.hard_eps, self.hard_eps >= 0, ">= 0"),
            ("BT_REWARD_POS", self.reward_pos, True, "a finite number"),
            ("BT_REWARD_NEG", self.reward_neg, self.reward_pos > -self.reward_neg,
             f"> -BT_REWARD_POS = {-self.reward_pos!r}: the wrong-side reward is -BT_REWARD_NEG and must be below "
             "the right-side reward BT_REWARD_POS (BT_REWARD_NEG is a magnitude: upstream's -1 is 1 here)"),
            ("BT_REWARD_WRONG", self.reward_wrong, self.reward_wrong < self.reward_low,
             f"< BT_REWARD_LOW = {self.reward_low!r} (a right answer must beat a wrong one)"),
            ("BT_REWARD_HIGH", self.reward_high, self.reward_high >= self.reward_low,
             f">= BT_REWARD_LOW = {self.reward_low!r} (a wider margin never earns less)"),
            ("BT_GRADE_THRESH", self.grade_thresh, self.grade_thresh > 0, "> 0 (in units of BT_DELTA_TEMP)"),
            ("BT_HARDPAIR_TAU", self.hardpair_tau, self.hardpair_tau > 0, "> 0"),
            ("BT_MARGIN_GAMMA", self.margin_gamma, True, "a finite number"),
            ("BT_MARGIN_TEMP", self.margin_temp, self.margin_temp > 0, "> 0"),
        ]
        for name, value, ok, expected in checks:
            if not (math.isfinite(value) and ok):
                raise SettingsError(f"{name}={value!r}: expected {expected}")
        if not isinstance(self.margin_hardmine, bool):
            raise SettingsError(f"BT_MARGIN_HARDMINE={self.margin_hardmine!r}: expected 0 or 1")
        for kind in self.reward_kinds:
            if kind not in transform.REWARD_KINDS:
                raise SettingsError(f"reward kind {kind!r}: expected one of {transform.REWARD_KINDS}")
            if self.parse_fail_reward is not None and self.parser is not None:
                self.check_fail_reward(self.parser, kind)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, reward_kinds: tuple[str, ...] | None = None
                 ) -> BTRewardSettings:
        """Read and validate every BT_* variable.

        Args:
            env: the environment (default os.environ).
            reward_kinds: the reward kinds to check an explicit BT_PARSE_FAIL_REWARD against; None = those of the
                grpo_bt_rm rewards named in REWARD_NAME (unset: the launcher's default, bt_pointwise_baseline).

        Returns:
            The frozen settings.

        Raises:
            SettingsError: a bad value; the message names the variable and what was expected.
        """
        env = os.environ if env is None else env
        parser = (env.get("BT_SCORE_PARSER") or "").strip() or None
        if reward_kinds is None:
            names = (env.get("REWARD_NAME") or "bt_pointwise_baseline").split()
            reward_kinds = tuple(dict.fromkeys(REWARD_VARIANTS.get(n).reward for n in names if n in REWARD_VARIANTS))
        raw_hm = (env.get("BT_MARGIN_HARDMINE") or "1").strip()
        if raw_hm not in ("0", "1"):
            raise SettingsError(f"BT_MARGIN_HARDMINE={raw_hm!r}: expected 1 (w = the hard-mining weight) or 0 (w = 1)")
        return cls(
            parser=parser,
            delta_temp=_float(env, "BT_DELTA_TEMP", 1.0),
            delta_clip=_float(env, "BT_DELTA_CLIP", 0.0),
            delta_neg_clip=_float(env, "BT_DELTA_NEG_CLIP", 0.0),
            reward_scale=_float(env, "BT_REWARD_SCALE", 1.0),
            reward_offset=_float(env, "BT_REWARD_OFFSET", 0.0),
            parse_fail_reward=_float(env, "BT_PARSE_FAIL_REWARD", None),
            hard_lambda=_float(env, "BT_HARD_LAMBDA", 0.5),
            hard_tau=_float(env, "BT_HARD_TAU", 0.25),
            hard_eps=_float(env, "BT_HARD_EPS", 0.2),
            reasoning_tag=env.get("BT_REASONING_TAG", DEFAULT_REASONING_TAG).strip(),
            reward_pos=_float(env, "BT_REWARD_POS", 1.0),
            reward_neg=_float(env, "BT_REWARD_NEG", 1.0),
            reward_wrong=_float(env, "BT_REWARD_WRONG", 0.0),
            reward_low=_float(env, "BT_REWARD_LOW", 1.2),
            reward_high=_float(env, "BT_REWARD_HIGH", 1.4),
            grade_thresh=_float(env, "BT_GRADE_THRESH", 0.1),
            hardpair_tau=_float(env, "BT_HARDPAIR_TAU", 1.0),
            margin_gamma=_float(env, "BT_MARGIN_GAMMA", 0.5),
            margin_temp=_float(env, "BT_MARGIN_TEMP", 1.0),
            margin_hardmine=raw_hm == "1",
            reward_kinds=reward_kinds,
        )

    # --- the reward transform (the formulas live in `transform`) ------------------------------------------
    def clip_x(self, x: float) -> float:
        """x capped at +C (C > 0) and floored at -NC (NC > 0): `transform.clip_x`."""
        return transform.clip_x(x, self.delta_clip, self.delta_neg_clip)

    def reward_of_x(self, x: float) -> float:
        """R = s * logsigma(x) + o for an already clipped x: `transform.bt_reward`."""
        return transform.bt_reward(x, self.reward_scale, self.reward_offset)

    def valid_reward(self, t: float, kind: str = "bt") -> float:
        """The reward a parsed completion with normalised margin t = delta/T (unclipped) gets under `kind`.

        Args:
            t: delta / T in the preferred direction.
            kind: one of `transform.REWARD_KINDS`.

        Returns:
            The reward (the tie / no-comparison reward at t = 0).

        Raises:
            ValueError: unknown kind.
        """
        if kind == "bt":
            return transform.bt_reward(t, self.reward_scale, self.reward_offset, self.delta_clip, self.delta_neg_clip)
        if kind == "binary":
            return transform.binary_reward(t, self.reward_pos, self.reward_neg)
        if kind == "graded":
            return transform.graded_reward(t, self.reward_wrong, self.reward_low, self.reward_high, self.grade_thresh)
        if kind == "hard_margin":
            return transform.hard_margin_reward(t, self.margin_gamma, self.margin_temp)
        raise ValueError(f"unknown reward kind {kind!r}; valid: {', '.join(transform.REWARD_KINDS)}")

    @property
    def tie_reward(self) -> float:
        """R(0) of the bt reward."""
        return self.valid_reward(0.0)

    # --- the parse-failure reward ---------------------------------------------------------------------------
    def min_valid_reward(self, parser_name: str, kind: str = "bt") -> float:
        """The lowest reward a parsed completion can get under `parser_name`'s score range, `kind` and these
        settings: every kind is non-decreasing in t, so it is the reward at t = -(high - low) / T."""
        p = get_parser(parser_name)
        return self.valid_reward(-(p.high - p.low) / self.delta_temp, kind)

    def fail_gap(self, parser_name: str, kind: str = "bt") -> float:
        """How far below the lowest valid reward the default parse-failure reward sits: s*ln2 for bt (the gap
        between a tie and a perfect answer), ln2 for hard_margin (the same gap of its logsigma), and half the spread
        of the valid rewards for the bounded binary and graded rewards."""
        if kind == "bt":
            return self.reward_scale * FAIL_MARGIN
        if kind == "hard_margin":
            return FAIL_MARGIN
        p = get_parser(parser_name)
        t_max = (p.high - p.low) / self.delta_temp
        return (self.valid_reward(t_max, kind) - self.valid_reward(-t_max, kind)) / 2

    def check_fail_reward(self, parser_name: str, kind: str = "bt") -> None:
        """Raise SettingsError unless an explicit BT_PARSE_FAIL_REWARD is strictly below every valid reward."""
        if self.parse_fail_reward is None:
            return
        lowest = self.min_valid_reward(parser_name, kind)
        if not self.parse_fail_reward < lowest:
            raise SettingsError(
                f"BT_PARSE_FAIL_REWARD={self.parse_fail_reward!r}: must be strictly below {lowest:.6g}, the lowest "
                f"reward a valid {parser_name} score can get under the {kind} reward with these settings (else "
                "unparseable text would beat a wrong answer); unset it to use the default")

    def fail_reward(self, parser_name: str, kind: str = "bt") -> float:
        """What an unparseable completion earns: BT_PARSE_FAIL_REWARD if set (validated), else
        min_valid_reward - fail_gap.

        Raises:
            SettingsError: an explicit BT_PARSE_FAIL_REWARD is not strictly below every valid reward.
        """
        if self.parse_fail_reward is not None:
            self.check_fail_reward(parser_name, kind)
            return self.parse_fail_reward
        return self.min_valid_reward(parser_name, kind) - self.fail_gap(parser_name, kind)

    def to_dict(self, kind: str = "bt") -> dict:
        """Every setting plus, for `kind`, the derived tie (t = 0), parse-failure and lowest valid rewards per
        parser (what bt_reward_settings.json records)."""
        d = asdict(self)
        d["reward_kinds"] = list(self.reward_kinds)
        d["derived"] = {"kind": kind, "tie_reward": self.valid_reward(0.0, kind)}
        parsers = [self.parser] if self.parser else PARSERS.names()
        d["derived"]["fail_reward"] = {
            p: self.parse_fail_reward if self.parse_fail_reward is not None
            else self.min_valid_reward(p, kind) - self.fail_gap(p, kind) for p in parsers}
        d["derived"]["min_valid_reward"] = {p: self.min_valid_reward(p, kind) for p in parsers}
        return d
