"""The async teacher engine: up to `concurrency` requests in flight, paced to `rpm_limit`, retried with backoff.

    stats = asyncio.run(run_pairs(pairs, backend, settings, sink))   # sink(list_of_records) persists them

Transient failures (429, 529, 5xx, timeouts, connection errors) are retried with exponential backoff and jitter,
honouring `retry-after`, at most `max_retries` times; then the pair is recorded with an `error` (and retried by a
later --resume). A `FatalError` (400/401/403/...) stops the run after the requests in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tqdm import tqdm

from grpo_bt_rm.data import Pair
from grpo_bt_rm.prompts import PromptSpec
from grpo_bt_rm.teacher.backends import Backend, FatalError, TransientError, redact
from grpo_bt_rm.teacher.tasks import Item, ItemResult, build_request, pair_items, parse_answer, reasoning_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    backend: str
    model: str
    prompt: PromptSpec
    pairwise: bool = False
    batch_size: int = 1  # pairs per request; 1 = one request per response (pointwise) or per pair (pairwise)
    concurrency: int = 8
    rpm_limit: float = 0.0  # 0 = unlimited
    max_retries: int = 5
    retry_base_delay: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 600.0
    parse_retries: int = 1  # extra attempts for a single-response request whose answer has no valid score
    max_tokens: int = 512
    temperature: float | None = None  # None = the API's default
    seed: int = 0
    secrets: tuple[str, ...] = ()


@dataclass
class RunStats:
    requests: int = 0
    retries: int = 0
    parse_retries: int = 0
    records: int = 0
    errors: int = 0
    fatal: str | None = None
    wall_s: float = 0.0
    retry_statuses: dict = field(default_factory=dict)


def make_units(pairs: list[Pair], s: RunSettings) -> list[list[Item]]:
    """The requests to send, each a list of items. Batched items are ordered by their opaque id, so neither the
    label nor the side decides an item's position; a pairwise pair keeps A before B."""
    if s.batch_size <= 1:
        return [items for p in pairs for items in
                ([pair_items(p, s.seed, True)] if s.pairwise else [[it] for it in pair_items(p, s.seed, False)])]
    units = []
    for i in range(0, len(pairs), s.batch_size):
        chunk = pairs[i:i + s.batch_size]
        if s.pairwise:
            groups = sorted((pair_items(p, s.seed, True) for p in chunk), key=lambda g: g[0].item_id)
            units.append([it for g in groups for it in g])
        else:
            units.append(sorted((it for p in chunk for it in pair_items(p, s.seed, False)), key=lambda it: it.item_id))
    return units


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half the step is fixed, half is random."""
    step = min(cap, base * (2 ** (attempt - 1)))
    return step / 2 + rng.uniform(0, step / 2)


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (no bursts)."""

    def __init__(self, rpm: float):
        self.interval = 60.0 / rpm if rpm and rpm > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass
class _Part:
    result: ItemResult
    input_tokens: int
    output_tokens: int
    latency_s: float
    attempts: int


def make_record(pair: Pair, parts: dict[int, _Part], items: list[Item], s: RunSettings) -> dict:
    r0, r1 = parts[0].result, parts[1].result
    error = r0.error or r1.error
    s0 = None if error else r0.score
    s1 = None if error else r1.score
    both = s0 is not None and s1 is not None
    label = pair.preferred_side
    if both:
        chosen, rejected = (s0, s1) if label == 0 else (s1, s0)
        tie, correct = chosen == rejected, chosen > rejected
    else:
        tie, correct = False, None
    parse_failures = {str(side): parts[side].result.parse_error for side in (0, 1)
                      if not error and parts[side].result.parse_error}
    return {
        "pair_key": pair.key,
        "dataset": pair.meta.get("dataset"),
        "split": pair.meta.get("split"),
        "source_index": pair.source_index,
        "label": label,
        "score0": s0,
        "score1": s1,
        "reasoning0": reasoning_of(r0.text),
        "reasoning1": reasoning_of(r1.text),
        "text0": r0.text,
        "text1": r1.text,
        "correct": correct,
        "tie": tie,
        "parse_failures": parse_failures or None,
        "mode": "pairwise" if s.pairwise else ("batch" if s.batch_size > 1 else "pointwise"),
        "ab_order": [it.side for it in items] if s.pairwise else None,
        "prompt": s.prompt.name,
        "backend": s.backend,
        "model": s.model,
        "usage": {"input_tokens": parts[0].input_tokens + parts[1].input_tokens,
                  "output_tokens": parts[0].output_tokens + parts[1].output_tokens},
        "latency_s": round(max(parts[0].latency_s, parts[1].latency_s), 4),
        "attempts": max(parts[0].attempts, parts[1].attempts),
        "error": error,
        "finished_at": time.time(),
    }


async def _call(unit: list[Item], backend: Backend, s: RunSettings, limiter: RateLimiter, stats: RunStats,
                rng: random.Random) -> tuple[dict[str, ItemResult], int, int, float, int]:
    """One unit, with retries: (results by item id, input tokens, output tokens, latency of the last call, attempts)."""
    system, user = build_request(unit, s.prompt, s.pairwise)
    single = len(unit) == 1 and not s.pairwise
    tok_in = tok_out = attempts = parse_tries = failures = 0
    while True:
        await limiter.wait()
        attempts += 1
        stats.requests += 1
        t0 = time.monotonic()
        try:
            comp = await backend.complete(system, user, max_tokens=s.max_tokens, temperature=s.temperature)
        except TransientError as e:
            failures += 1
            stats.retry_statuses[str(e.status)] = stats.retry_statuses.get(str(e.status), 0) + 1
            msg = redact(str(e), s.secrets)
            if failures > s.max_retries:
                log.warning("giving up after %d attempts: %s", attempts, msg)
                err = f"{msg} (after {attempts} attempts)"
                return {it.item_id: ItemResult(None, None, None, err) for it in unit}, tok_in, tok_out, 0.0, attempts
            if e.retry_after is not None:
                delay = min(e.retry_after, s.max_retry_after) + rng.uniform(0, 0.1 * s.retry_base_delay)
            else:
                delay = backoff_delay(failures, s.retry_base_delay, s.max_backoff, rng)
            stats.retries += 1
            log.info("retry %d/%d in %.2fs: %s", failures, s.max_retries, delay, msg)
            await asyncio.sleep(delay)
            continue
        latency = time.monotonic() - t0
        tok_in += comp.input_tokens
        tok_out += comp.output_tokens
        results = parse_answer(unit, comp.text, s.prompt, s.pairwise)
        if single and results[unit[0].item_id].score is None and parse_tries < s.parse_retries:
            parse_tries += 1
            stats.parse_retries += 1
            continue
        return results, tok_in, tok_out, latency, attempts


async def run_pairs(pairs: list[Pair], backend: Backend, s: RunSettings, sink: Callable[[list[dict]], None],
                    progress: bool = True) -> RunStats:
    """Score `pairs`; every finished pair's record goes to `sink` promptly (in a worker thread, in batches)."""
    stats = RunStats()
    start = time.monotonic()
    units = make_units(pairs, s)
    queue: asyncio.Queue[list[Item]] = asyncio.Queue()
    for u in units:
        queue.put_nowait(u)
    limiter = RateLimiter(s.rpm_limit)
    rng = random.Random(s.seed)
    pending: dict[str, dict[int, _Part]] = {}
    pair_units: dict[str, list[Item]] = {}
    out_q: asyncio.Queue[dict | None] = asyncio.Queue()
    bar = tqdm(total=len(pairs), unit="pair", desc="teacher", disable=not progress or None)

    async def writer() -> None:
        done = False
        while not done:
            batch = [await out_q.get()]
            while not out_q.empty():
                batch.append(out_q.get_nowait())
            done = batch[-1] is None
            recs = [r for r in batch if r is not None]
            if recs:
                await asyncio.to_thread(sink, recs)
                bar.update(len(recs))

    def deliver(unit: list[Item], results: dict[str, ItemResult], tok_in: int, tok_out: int, latency: float,
                attempts: int) -> None:
        # Split the unit's tokens over its items so the per-pair usage sums to exactly what was paid.
        n = len(unit)
        for i, it in enumerate(unit):
            share_in = tok_in // n + (1 if i < tok_in % n else 0)
            share_out = tok_out // n + (1 if i < tok_out % n else 0)
            parts = pending.setdefault(it.pair.key, {})
            parts[it.side] = _Part(results[it.item_id], share_in, share_out, latency, attempts)
            pair_units.setdefault(it.pair.key, []).append(it)
            if len(parts) == 2:
                rec = make_record(it.pair, parts, pair_units.pop(it.pair.key), s)
                del pending[it.pair.key]
                stats.records += 1
                stats.errors += rec["error"] is not None
                out_q.put_nowait(rec)

    async def worker() -> None:
        while stats.fatal is None:
            try:
                unit = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                results, tok_in, tok_out, latency, attempts = await _call(unit, backend, s, limiter, stats, rng)
            except FatalError as e:
                stats.fatal = redact(str(e), s.secrets)
                return
            deliver(unit, results, tok_in, tok_out, latency, attempts)

    writer_task = asyncio.create_task(writer())
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(s.concurrency, len(units))))))
    finally:
        out_q.put_nowait(None)
        await writer_task
        bar.close()
    stats.wall_s = time.monotonic() - start
    return stats
