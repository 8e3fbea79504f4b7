"""Helpers every stage's frozen settings dataclass uses: build it from parsed flags, check lower bounds.

    settings = settings_from_args(EvalSettings, args)        # each field takes the flag of the same name
    check_lower_bounds(self, (("batch_size", 1), ("seed", 0)))  # in __post_init__: SettingsError naming the flag
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from grpo_bt_rm.io import SettingsError

T = TypeVar("T")


def settings_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """A stage's settings dataclass from parsed flags: each field takes the flag of the same name (argparse `dest`);
    flags the class has no field for are ignored, fields without a flag keep their default; `overrides` win.

    Raises:
        SettingsError: whatever the class's own validation raises (it names the flag).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in vars(args).items() if k in names}, **overrides})


def check_lower_bounds(settings: object, bounds: Iterable[tuple[str, float]]) -> None:
    """Every named field is None (not given) or >= its bound.

    Args:
        settings: the dataclass instance (field names are the flags' names).
        bounds: (field name, lowest allowed value) pairs.

    Raises:
        SettingsError: `--<name> must be >= <low>, got <value>` for the first field below its bound.
    """
    for name, low in bounds:
        value = getattr(settings, name)
        if value is not None and not value >= low:  # `not >=` also refuses NaN
            raise SettingsError(f"--{name} must be >= {low:g}, got {value}")
