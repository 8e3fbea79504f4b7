"""argparse types for counts, sizes and seeds: a bad value stops the CLI with argparse's usage line, the flag's
name and what was expected (exit 2), before any work starts.

    p.add_argument("--k", type=int_at_least(1), default=10)   # --k -5  ->  argument --k: expected an integer >= 1,
                                                               # got '-5'
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An integer >= `minimum` (counts: 1; sizes that may be 0: 0; seeds: 0). '3.5', '1e3' and 'x' are errors."""

    def parse(text: str) -> int:
        """`text` as an int; raises `argparse.ArgumentTypeError` unless it is an integer >= minimum."""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_in(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (or (low, high] with `low_open`)."""
    bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high != math.inf else "")

    def parse(text: str) -> float:
        """`text` as a float; raises `argparse.ArgumentTypeError` unless it is finite and within the bounds."""
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}")
        return value

    parse.__name__ = f"number {bound}"
    return parse


COUNT = int_at_least(1)
SEED = int_at_least(0)
POSITIVE = float_in(0, low_open=True)
