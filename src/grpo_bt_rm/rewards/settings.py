"""`BTRewardSettings`: every Bradley-Terry reward setting, read once from the environment and validated.

    settings = BTRewardSettings.from_env()            # raises SettingsError naming the bad variable
    settings.fail_reward("score100_first")             # what an unparseable completion earns

Variables (reference names): BT_SCORE_PARSER, BT_DELTA_TEMP, BT_DELTA_CLIP, BT_DELTA_NEG_CLIP, BT_REWARD_SCALE,
BT_REWARD_OFFSET, BT_PARSE_FAIL_REWARD, BT_HARD_LAMBDA, BT_HARD_TAU, BT_HARD_EPS, and BT_REASONING_TAG (the
reasoning-block tag the parser removes before reading the score, default `think`; empty = none).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from grpo_bt_rm.parsing import DEFAULT_REASONING_TAG, PARSERS, check_reasoning_tag, get_parser
from grpo_bt_rm.rewards import transform

# How far below the lowest attainable valid reward the default parse-failure reward sits, in units of s:
# ln 2 is the gap between a tie, R(0) = s*ln(1/2) + o, and a perfect answer, R(+inf) = o.
FAIL_MARGIN = math.log(2.0)


class SettingsError(ValueError):
    """A reward/trainer setting is invalid; the message names the variable and what was expected."""


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
        ]
        for name, value, ok, expected in checks:
            if not (math.isfinite(value) and ok):
                raise SettingsError(f"{name}={value!r}: expected {expected}")
        if self.parse_fail_reward is not None and self.parser is not None:
            self.check_fail_reward(self.parser)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BTRewardSettings:
        env = os.environ if env is None else env
        parser = (env.get("BT_SCORE_PARSER") or "").strip() or None
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
        between a tie and a perfect answer)."""
        return self.reward_scale * FAIL_MARGIN

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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["derived"] = {"tie_reward": self.tie_reward}
        parsers = [self.parser] if self.parser else PARSERS.names()
        d["derived"]["fail_reward"] = {
            p: self.parse_fail_reward if self.parse_fail_reward is not None
            else self.min_valid_reward(p) - self.reward_scale * FAIL_MARGIN for p in parsers}
        d["derived"]["min_valid_reward"] = {p: self.min_valid_reward(p) for p in parsers}
        return d
