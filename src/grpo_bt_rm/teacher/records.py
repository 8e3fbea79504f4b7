"""The teacher's results file: append-and-fsync as records finish, exact resume, compaction and the summary.

Many runs (different --skip_pairs ranges, even at the same time) may share one results.jsonl. Every append and
every rewrite happens under an exclusive lock on `results.jsonl.lock`, and appends reopen the file each time,
so a compaction by one run never strands another run's records in an unlinked file.

One payer per pair: a run claims the pairs it will score (`claims/<pid>-<n>.json`, holding an exclusive flock on
it for the run's life) and never takes a pair another live run holds. The kernel drops the flock when a run
dies, however it dies, so a stale claim never blocks a later --resume; it is removed when next seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from grpo_bt_rm.io import InputError, append_jsonl, atomic_write

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"


@contextlib.contextmanager
def locked(results: Path) -> Iterator[None]:
    """Hold the exclusive flock on `<results>.lock` for the `with` block (creating the folder if needed).

    Every read-check-append of a run directory's results and claims happens under it.
    """
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(str(results) + ".lock", "a") as lk:
        fcntl.flock(lk.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lk.fileno(), fcntl.LOCK_UN)


CLAIMS = "claims"
_claim_ids = itertools.count()


class Claim:
    """The pairs this run scores, held (exclusive flock on the claim file) until `release()` or the process ends.
    Create and inspect claims only under `locked(results)`, so two runs never take the same pair."""

    def __init__(self, run_dir: Path, keys: list[str]):
        folder = run_dir / CLAIMS
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{os.getpid()}-{next(_claim_ids)}.json"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, json.dumps({"pid": os.getpid(), "started": time.time(), "keys": keys}).encode())

    def release(self) -> None:
        """Delete the claim file and release its lock; calling it again does nothing."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def live_claims(run_dir: Path) -> dict[str, int]:
    """pair_key -> PID of the live run holding it. Claim files whose run has died are removed."""
    held: dict[str, int] = {}
    for path in sorted((run_dir / CLAIMS).glob("*.json")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # its run holds it: live
                claim = json.loads(os.pread(fd, os.fstat(fd).st_size, 0) or b"{}")
                held.update(dict.fromkeys(claim.get("keys", ()), int(claim.get("pid", -1))))
            else:
                log.info("removing the stale claim %s (its run ended without releasing it)", path)
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return held


def is_complete(rec: dict) -> bool:
    """Completed = the teacher answered (a parse failure is a completed answer); errored records are retried."""
    return rec.get("error") is None


def read_records(path: Path) -> tuple[list[dict], int]:
    """(records in file order, number of torn lines). A torn line is what a kill -9 mid-write leaves behind."""
    if not path.exists():
        return [], 0
    records, torn = [], 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                torn += 1
                log.warning("%s:%d: skipping a torn (partially written) line", path, lineno)
                continue
            if not isinstance(rec, dict) or "pair_key" not in rec:
                raise InputError(f"{path}:{lineno}: not a teacher record (expected an object with 'pair_key')")
            records.append(rec)
    return records, torn


def latest_by_key(records: Iterable[dict]) -> dict[str, dict]:
    """One record per pair_key: the last completed one, else the last errored one. Insertion order = first seen."""
    best: dict[str, dict] = {}
    for rec in records:
        key = rec["pair_key"]
        old = best.get(key)
        if old is None or is_complete(rec) or not is_complete(old):
            best[key] = rec
    return best


def append_records(path: Path, records: list[dict]) -> None:
    """Append whole lines and fsync, under the lock (`io.append_jsonl` repairs a torn tail first)."""
    if not records:
        return
    with locked(path):
        append_jsonl(path, records, fsync=True)


def compact(path: Path) -> dict[str, dict]:
    """Rewrite the file atomically with exactly one record per pair_key (see `latest_by_key`); returns them."""
    with locked(path):
        records, torn = read_records(path)
        best = latest_by_key(records)
        if len(best) != len(records) or torn:
            with atomic_write(path) as f:
                for rec in best.values():
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            log.info("compacted %s: %d lines -> %d records (%d torn)", path, len(records) + torn, len(best), torn)
    return best


def summarize(records: Iterable[dict], price) -> dict:
    """Accuracy (ties count 0.5), strict accuracy, ties, parse failures (by reason: truncated and blocked
    answers apart), errors, tokens (thinking and cached ones also apart) and cost."""
    from grpo_bt_rm.teacher.pricing import cost_usd

    n = scored = correct = ties = parse_fail = errors = tok_in = tok_out = cached = 0
    thinking: int | None = None  # stays None when no record's provider reported thinking tokens (Anthropic)
    latency = 0.0
    paid = {False: [0, 0, 0], True: [0, 0, 0]}  # batch API? -> [input, output, cached input] tokens
    reasons: Counter = Counter()
    blocked: Counter = Counter()
    stops: Counter = Counter()
    for rec in records:
        n += 1
        usage = rec.get("usage") or {}
        tok_in += int(usage.get("input_tokens") or 0)
        tok_out += int(usage.get("output_tokens") or 0)
        if usage.get("thinking_tokens") is not None:
            thinking = (thinking or 0) + int(usage["thinking_tokens"])
        cached += int(usage.get("cached_input_tokens") or 0)
        bucket = paid[rec.get("api") == "batch"]
        bucket[0] += int(usage.get("input_tokens") or 0)
        bucket[1] += int(usage.get("output_tokens") or 0)
        bucket[2] += int(usage.get("cached_input_tokens") or 0)
        latency += float(rec.get("latency_s") or 0.0)
        if not is_complete(rec):
            errors += 1
            continue
        reasons.update((rec.get("parse_failures") or {}).values())
        blocked.update((rec.get("blocked") or {}).values())
        stops.update(str(rec.get(f"stop_reason{side}")) for side in (0, 1) if rec.get(f"stop_reason{side}"))
        if rec.get("score0") is None or rec.get("score1") is None:
            parse_fail += 1
            continue
        scored += 1
        if rec.get("tie"):
            ties += 1
        elif rec.get("correct"):
            correct += 1
    return {
        "records": n,
        "scored": scored,
        "accuracy": (correct + 0.5 * ties) / scored if scored else None,
        "strict_accuracy": correct / scored if scored else None,
        "correct": correct,
        "ties": ties,
        "parse_failures": parse_fail,
        "parse_failure_reasons": dict(sorted(reasons.items())),
        "truncated": reasons.get("truncated", 0),
        "blocked": dict(sorted(blocked.items())),
        "stop_reasons": dict(sorted(stops.items())),
        "errors": errors,
        "input_tokens": tok_in,
        "cached_input_tokens": cached,
        "output_tokens": tok_out,
        "thinking_tokens": thinking,
        "total_tokens": tok_in + tok_out,
        "price_per_mtok": price._asdict() if price else None,
        "estimated_cost_usd": None if price is None else round(sum(
            cost_usd(i, o, price, c, batch=b) for b, (i, o, c) in paid.items()), 6),
        "mean_latency_s": round(latency / n, 4) if n else None,
    }
