"""The async teacher engine: up to `concurrency` requests in flight, paced to `rpm_limit`, retried with backoff.

    stats = asyncio.run(run_pairs(pairs, backend, settings, sink))   # sink(list_of_records) persists them

Transient failures (429, 529, 5xx, timeouts, connection errors) are retried with exponential backoff and jitter,
honouring the server's wait (a `retry-after` header, or a retry delay in the error body) up to
`max_retry_wait`, at most `max_retries` times; then the pair is recorded with an `error` (and retried by a
later --resume). A `FatalError` (400/401/403, a used-up quota, ...) stops the run: requests in flight finish,
and no new request or retry starts.
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
from grpo_bt_rm.io import SettingsError
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import PromptSpec
from grpo_bt_rm.settings import check_lower_bounds
from grpo_bt_rm.teacher.backends import Backend, FatalError, TransientError, redact
from grpo_bt_rm.teacher.tasks import (
    FINAL_PARSE_ERRORS,
    Item,
    ItemResult,
    build_request,
    content_hash,
    pair_items,
    parse_answer,
    reasoning_of,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """What the async engine needs for one run, validated on construction (field names are the CLI flags').

    Units: rpm_limit in requests per minute (0 = unlimited); retry_base_delay, max_backoff and max_retry_wait in
    seconds; max_tokens in tokens.

    Raises:
        SettingsError: a count, rate or wait below its lower bound; the message names the flag.
    """

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
    max_retry_wait: float = 600.0  # longest server-asked wait honoured; a longer one is cut to this and logged
    parse_retries: int = 1  # extra attempts for a single-response request whose answer has no valid score
    max_tokens: int = 512
    temperature: float | None = None  # None = the API's default
    seed: int = 0
    secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_lower_bounds(self, (("batch_size", 1), ("concurrency", 1), ("max_tokens", 1), ("rpm_limit", 0),
                                  ("max_retries", 0), ("parse_retries", 0), ("max_retry_wait", 0), ("seed", 0),
                                  ("temperature", 0)))
        if self.retry_base_delay <= 0 or self.max_backoff <= 0:
            raise SettingsError(f"--retry_base_delay and --max_backoff must be > 0, got {self.retry_base_delay} "
                                f"and {self.max_backoff}")


@dataclass
class RunStats:
    """Counts and timings of one teacher run (requests, retries, records, errors, batch use).

    Attributes:
        requests: requests sent.
        retries: transient-error retries.
        parse_retries: requests asked again because the answer did not parse.
        records: pair records written.
        errors: records with a request error.
        fatal: the redacted message of the error that stopped the run, or None.
        wall_s: wall-clock time in seconds.
        retry_statuses: status -> number of retries it caused.
        server_waits: retries that waited as the server asked (header or body hint).
        server_waits_cut: such waits longer than max_retry_wait, cut to it.
        batch_jobs: batches submitted (--batch_api).
        batch_items: requests answered inside a batch.
        batch_fallbacks: requests a batch failed, sent online instead.
    """
    requests: int = 0
    retries: int = 0
    parse_retries: int = 0
    records: int = 0
    errors: int = 0
    fatal: str | None = None
    wall_s: float = 0.0
    retry_statuses: dict = field(default_factory=dict)
    server_waits: int = 0  # retries that waited as the server asked (header or body hint)
    server_waits_cut: int = 0  # server-asked waits longer than max_retry_wait, cut to it
    batch_jobs: int = 0  # batches submitted (--batch_api)
    batch_items: int = 0  # requests answered inside a batch
    batch_fallbacks: int = 0  # requests a batch failed, sent online instead


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
        """Sleep until this request may start: starts are at least 60/rpm seconds apart (no wait if rpm <= 0)."""
        if not self.interval:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _Stopped(Exception):
    """Another request hit a fatal error: this one gives up without a record (a later --resume asks again)."""


@dataclass
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int | None = None  # None = the provider does not say
    cached_input_tokens: int = 0

    def add(self, comp) -> None:
        self.input_tokens += comp.input_tokens
        self.output_tokens += comp.output_tokens
        self.cached_input_tokens += comp.cached_input_tokens
        if comp.thinking_tokens is not None:
            self.thinking_tokens = (self.thinking_tokens or 0) + comp.thinking_tokens

    def share(self, i: int, n: int) -> _Usage:
        """Item i's share of n: integer parts that sum to exactly what was paid."""
        def part(total: int) -> int:
            return total // n + (1 if i < total % n else 0)
        thinking = None if self.thinking_tokens is None else part(self.thinking_tokens)
        return _Usage(part(self.input_tokens), part(self.output_tokens), thinking, part(self.cached_input_tokens))


def _sum_opt(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


@dataclass
class _Part:
    result: ItemResult
    usage: _Usage
    latency_s: float
    attempts: int
    api: str = "online"  # "online" or "batch" (the provider's batch endpoint, billed at its discount)


def make_record(pair: Pair, parts: dict[int, _Part], items: list[Item], s: RunSettings) -> dict:
    """The results.jsonl record of one pair from its two sides' results.

    Scores are kept only when neither side had a request error. `correct` is chosen > rejected and `tie` chosen ==
    rejected (`correct` None, `tie` False when a score is missing). Token usage is summed over the two sides;
    `latency_s` and `attempts` are the larger side's.
    """
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
    u0, u1 = parts[0].usage, parts[1].usage
    return {
        "pair_key": pair.key,
        "content_sha": content_hash(pair),
        "dataset": pair.meta.get("dataset"),
        "split": pair.meta.get("split"),
        "source_index": pair.source_index,
        "label": label,
        "score0": s0,
        "score1": s1,
        "reasoning0": reasoning_of(r0.text, get_parser(s.prompt.parser).reasoning_tag),
        "reasoning1": reasoning_of(r1.text, get_parser(s.prompt.parser).reasoning_tag),
        "text0": r0.text,
        "text1": r1.text,
        "stop_reason0": r0.stop_reason,
        "stop_reason1": r1.stop_reason,
        "blocked": {str(side): parts[side].result.blocked for side in (0, 1) if parts[side].result.blocked} or None,
        "correct": correct,
        "tie": tie,
        "parse_failures": parse_failures or None,
        "mode": "pairwise" if s.pairwise else ("batch" if s.batch_size > 1 else "pointwise"),
        "ab_order": [it.side for it in items] if s.pairwise else None,
        "prompt": s.prompt.name,
        "backend": s.backend,
        "model": s.model,
        "usage": {"input_tokens": u0.input_tokens + u1.input_tokens,
                  "output_tokens": u0.output_tokens + u1.output_tokens,
                  "thinking_tokens": _sum_opt(u0.thinking_tokens, u1.thinking_tokens),
                  "cached_input_tokens": u0.cached_input_tokens + u1.cached_input_tokens},
        "api": parts[0].api if parts[0].api == parts[1].api else "mixed",
        "latency_s": round(max(parts[0].latency_s, parts[1].latency_s), 4),
        "attempts": max(parts[0].attempts, parts[1].attempts),
        "error": error,
        "finished_at": time.time(),
    }


async def _call(unit: list[Item], backend: Backend, s: RunSettings, limiter: RateLimiter, stats: RunStats,
                rng: random.Random) -> tuple[dict[str, ItemResult], _Usage, float, int]:
    """One unit, with retries: (results by item id, tokens paid, latency of the last call, attempts)."""
    system, user = build_request(unit, s.prompt, s.pairwise)
    single = len(unit) == 1 and not s.pairwise
    usage = _Usage()
    attempts = parse_tries = failures = 0
    while True:
        await limiter.wait()
        if stats.fatal is not None:
            raise _Stopped
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
                return {it.item_id: ItemResult(None, None, None, err) for it in unit}, usage, 0.0, attempts
            delay = _retry_delay(e, failures, s, stats, rng)
            stats.retries += 1
            log.info("retry %d/%d in %.2fs: %s", failures, s.max_retries, delay, msg)
            await _sleep_unless_stopped(delay, stats)
            continue
        latency = time.monotonic() - t0
        usage.add(comp)
        results = parse_answer(unit, comp.text, s.prompt, s.pairwise, truncated=comp.truncated,
                               blocked=comp.blocked, stop_reason=comp.stop_reason)
        failure = results[unit[0].item_id].parse_error
        if single and failure and failure not in FINAL_PARSE_ERRORS and parse_tries < s.parse_retries:
            parse_tries += 1
            stats.parse_retries += 1
            continue
        return results, usage, latency, attempts


async def _sleep_unless_stopped(delay: float, stats: RunStats) -> None:
    """Sleep `delay` seconds, but give up within 0.25 s once another request has stopped the run."""
    end = time.monotonic() + delay
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(0.25, left))
        if stats.fatal is not None:
            raise _Stopped


def _retry_delay(e: TransientError, failures: int, s: RunSettings, stats: RunStats, rng: random.Random) -> float:
    """The server's wait when it asked for one (cut to max_retry_wait, and said so), else our own backoff."""
    if e.retry_after is None:
        return backoff_delay(failures, s.retry_base_delay, s.max_backoff, rng)
    stats.server_waits += 1
    wait = e.retry_after
    if wait > s.max_retry_wait:
        stats.server_waits_cut += 1
        log.warning("the server asked to wait %.0fs before retrying; waiting --max_retry_wait %.0fs instead "
                    "(raise it to honour the server)", wait, s.max_retry_wait)
        wait = s.max_retry_wait
    return wait + rng.uniform(0, 0.1 * s.retry_base_delay)


class Assembler:
    """Collects the two items of each pair, from any units (online or batch, in any order), into one record,
    handed to `emit` as soon as the pair is whole. A unit's tokens are split over its items so that per-pair
    usage sums to exactly what was paid."""

    def __init__(self, s: RunSettings, stats: RunStats, emit: Callable[[dict], None]):
        self.s, self.stats, self.emit = s, stats, emit
        self._parts: dict[str, dict[int, _Part]] = {}
        self._items: dict[str, list[Item]] = {}

    def deliver(self, unit: list[Item], results: dict[str, ItemResult], usage: _Usage, latency: float,
                attempts: int, api: str = "online") -> None:
        """Add a unit's item results; each pair whose two sides are now in becomes a record and is emitted.

        Args:
            unit: the request's items.
            results: item_id -> its result.
            usage: the request's token usage, split over the unit's items in integer shares that sum to it.
            latency: the request's latency in seconds.
            attempts: how many attempts the request took.
            api: "online" or "batch".
        """
        for i, it in enumerate(unit):
            parts = self._parts.setdefault(it.pair.key, {})
            parts[it.side] = _Part(results[it.item_id], usage.share(i, len(unit)), latency, attempts, api)
            self._items.setdefault(it.pair.key, []).append(it)
            if len(parts) == 2:
                rec = make_record(it.pair, parts, self._items.pop(it.pair.key), self.s)
                del self._parts[it.pair.key]
                self.stats.records += 1
                self.stats.errors += rec["error"] is not None
                self.emit(rec)


async def run_pairs(pairs: list[Pair], backend: Backend, s: RunSettings, sink: Callable[[list[dict]], None],
                    progress: bool = True) -> RunStats:
    """Score `pairs`; every finished pair's record goes to `sink` promptly (in a worker thread, in batches)."""
    return await run_units(make_units(pairs, s), backend, s, sink, progress)


async def run_units(units: list[list[Item]], backend: Backend, s: RunSettings, sink: Callable[[list[dict]], None],
                    progress: bool = True, assembler: Assembler | None = None) -> RunStats:
    """Send `units` online; `assembler` may already hold other items of their pairs (from a batch)."""
    stats = RunStats() if assembler is None else assembler.stats
    start = time.monotonic()
    queue: asyncio.Queue[list[Item]] = asyncio.Queue()
    for u in units:
        queue.put_nowait(u)
    limiter = RateLimiter(s.rpm_limit)
    rng = random.Random(s.seed)
    out_q: asyncio.Queue[dict | None] = asyncio.Queue()
    asm = assembler or Assembler(s, stats, out_q.put_nowait)
    asm.emit = out_q.put_nowait
    n_pairs = len({it.pair.key for u in units for it in u})
    bar = tqdm(total=n_pairs, unit="pair", desc="teacher", disable=not progress or None)

    async def writer() -> None:
        """Hand finished records to `sink` in a worker thread, as many as are queued at once, until the
        None sentinel arrives; advances the progress bar.
        """
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

    async def worker() -> None:
        """Send units from the queue until it is empty or the run has a fatal error; a `FatalError`
        records its redacted message in `stats.fatal` and stops this worker.
        """
        while stats.fatal is None:
            try:
                unit = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                results, usage, latency, attempts = await _call(unit, backend, s, limiter, stats, rng)
            except FatalError as e:
                stats.fatal = stats.fatal or redact(str(e), s.secrets)
                return
            except _Stopped:
                return
            asm.deliver(unit, results, usage, latency, attempts)

    writer_task = asyncio.create_task(writer())
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(s.concurrency, len(units))))))
    finally:
        out_q.put_nowait(None)
        await writer_task
        bar.close()
    stats.wall_s += time.monotonic() - start
    return stats
