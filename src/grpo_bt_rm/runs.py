"""Find ms-swift runs and checkpoints by their numbers, never by file time (a run dir copied with `scp -r` or
`rsync -r` has fresh mtimes in arbitrary order).

    python -m grpo_bt_rm.runs latest-checkpoint OUT_DIR   # prints OUT_DIR[/vN-<time>]/checkpoint-<highest step>

- A run is a `vN-<time>/` folder holding `args.json`; the newest is the highest N. A folder without args.json (a
  launch that failed before ms-swift wrote it) is skipped with a log line.
- The latest checkpoint is the highest `checkpoint-<step>` of the newest run that has one.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.io import InputError

log = logging.getLogger(__name__)


def run_version(p: Path) -> int | None:
    """N of an ms-swift run directory named `vN-<time>`, else None.

    >>> run_version(Path("v3-20250101-120000")), run_version(Path("other"))
    (3, None)
    """
    m = re.match(r"v(\d+)-", p.name)
    return int(m.group(1)) if m else None


def runs_in(d: Path) -> list[Path]:
    """The ms-swift runs under `d`, oldest first; folders without args.json are skipped (logged)."""
    found = sorted((p for p in d.glob("v*-*") if p.is_dir() and run_version(p) is not None),
                   key=lambda p: (run_version(p), p.name))
    runs = []
    for p in found:
        if (p / "args.json").is_file():
            runs.append(p)
        else:
            log.info("%s: no args.json (a launch that failed or is still starting); ignored", p)
    return runs


def checkpoint_number(p: Path) -> int | None:
    """N of a directory named exactly `checkpoint-N`, else None.

    >>> checkpoint_number(Path("checkpoint-200")), checkpoint_number(Path("checkpoint-200-merged"))
    (200, None)
    """
    m = re.fullmatch(r"checkpoint-(\d+)", p.name)
    return int(m.group(1)) if m else None


def checkpoints_in(d: Path) -> list[Path]:
    """`checkpoint-<step>` folders directly under `d`, by step."""
    return sorted((p for p in d.glob("checkpoint-*") if p.is_dir() and checkpoint_number(p) is not None),
                  key=checkpoint_number)


def latest_checkpoint(d: str | Path) -> Path:
    """The highest-step checkpoint directly under `d`, else in the newest run under `d` that has one."""
    d = Path(d)
    if not d.is_dir():
        raise InputError(f"{d}: no such directory")
    if own := checkpoints_in(d):
        return own[-1]
    for run in reversed(runs_in(d)):
        if ck := checkpoints_in(run):
            return ck[-1]
        log.info("%s: no checkpoint-<step> folder; looking at the run before it", run)
    raise InputError(f"{d}: no checkpoint-<step> folder here nor in a vN-<time>/ run with args.json")


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.runs` argument parser (sub-command `latest-checkpoint DIR`)."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.runs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    lc = sub.add_parser("latest-checkpoint", help="print the highest-step checkpoint under DIR")
    lc.add_argument("dir", help="a run dir (vN-<time>/) or an output dir holding runs")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the latest checkpoint's absolute path; returns the exit code."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: str(latest_checkpoint(args.dir).resolve()))


if __name__ == "__main__":
    sys.exit(main())
