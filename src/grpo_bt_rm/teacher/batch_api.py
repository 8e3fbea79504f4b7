"""`--batch_api`: send a run's requests through the provider's batch endpoint (about half price), with resume.

    stats = asyncio.run(run_batches(jobs, units, backend, settings, sink, state_dir, poll_s=30))

Anthropic Message Batches, the OpenAI Batch API (a JSONL file upload) and Gemini batch mode, through the
official SDKs. Every request gets a `custom_id` (Gemini: metadata `key`) and answers are matched by it only.
A job's state file (`batches/<pid>-<n>.json`) is written before submitting and holds the batch id as soon as the
provider returns it; the run keeps an exclusive flock on its `.lock` file while it polls. After a crash, `--resume` adopts every
state file whose run has died and polls that same batch: a batch is never submitted twice. A state file left in
the middle of a submission (no id yet) stops the run: the batch may exist, so we do not guess. Items the batch
failed (errored, expired, canceled) fall back to the online path. Records say `"api": "batch"`.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from grpo_bt_rm.data import Pair
from grpo_bt_rm.io import InputError, atomic_write
from grpo_bt_rm.teacher.backends import (
    Completion,
    FatalError,
    TransientError,
    anthropic_completion,
    classify_status,
    gemini_completion,
    openai_completion,
)
from grpo_bt_rm.teacher.runner import Assembler, RunSettings, RunStats, _Usage, run_units
from grpo_bt_rm.teacher.tasks import Item, build_request, parse_answer

log = logging.getLogger(__name__)

BATCHES = "batches"
_job_ids = itertools.count()


class BatchJob:
    """One submitted (or being submitted) batch: a state file (rewritten atomically) and a lock file that the
    run polling it holds with an exclusive flock for as long as it lives."""

    def __init__(self, path: Path, lock_fd: int, state: dict):
        self.path, self._lock_fd, self.state = path, lock_fd, state

    @classmethod
    def create(cls, run_dir: Path, backend: str, model: str, units: list[list[Item]]) -> BatchJob:
        """Start a job's state file (`run_dir/batches/<pid>-<n>.json`), locked, before submitting its batch.

        Args:
            run_dir: the teacher run directory.
            backend: the backend name, recorded to refuse resuming with another.
            model: the model id, likewise.
            units: the requests' items; unit i gets custom id `u<i>`.
        """
        folder = run_dir / BATCHES
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}-{next(_job_ids)}.json"
        state = {"backend": backend, "model": model, "batch_id": None, "created": time.time(),
                 "units": {f"u{i}": [[it.pair.key, it.side, it.item_id] for it in unit]
                           for i, unit in enumerate(units)}}
        job = cls(path, _lock(path, blocking=True), state)
        job.save()
        return job

    def save(self) -> None:
        """Rewrite the state file atomically (e.g. once the provider returns the batch id)."""
        with atomic_write(self.path) as f:
            f.write(json.dumps(self.state))

    def keys(self) -> set[str]:
        """The pair keys this job's requests cover."""
        return {key for items in self.state["units"].values() for key, _, _ in items}

    def units(self, pairs: dict[str, Pair]) -> dict[str, list[Item]]:
        """custom id -> the job's items, rebuilt from the state file with `pairs` (pair key -> Pair).

        Raises:
            KeyError: a pair key of the state file is not in `pairs`.
        """
        return {cid: [Item(pairs[key], side, iid) for key, side, iid in items]
                for cid, items in self.state["units"].items()}

    def finish(self) -> None:
        """Delete the state and lock files and release the lock: the batch's answers are all recorded."""
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".lock").unlink(missing_ok=True)
        os.close(self._lock_fd)


def _lock(state_path: Path, blocking: bool = False) -> int | None:
    """An fd holding the exclusive flock of a job's lock file, or None when a live run holds it."""
    fd = os.open(state_path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def adopt_jobs(run_dir: Path, backend: str, model: str) -> list[BatchJob]:
    """The batch jobs of runs that died (their flock is free), now held by this run."""
    jobs = []
    for path in sorted((run_dir / BATCHES).glob("*.json")):
        fd = _lock(path)
        if fd is None:  # a live run polls it
            continue
        state = json.loads(path.read_text())
        if (state["backend"], state["model"]) != (backend, model):
            os.close(fd)
            raise InputError(f"{path}: a batch of --backend {state['backend']} --model {state['model']} is pending "
                             "here; resume it with those settings")
        if not state.get("batch_id"):
            os.close(fd)
            raise InputError(f"{path}: a run died while submitting this batch, so it may exist at the provider "
                             "without our knowing its id. Check the provider's console (and cancel it if it is "
                             "there), then delete this file and --resume; it is never submitted twice on a guess")
        log.info("resuming batch %s (%d requests) left by an earlier run", state["batch_id"], len(state["units"]))
        jobs.append(BatchJob(path, fd, state))
    return jobs


# --- provider clients: submit, poll, results -----------------------------------------------------------------


def _api_error(e: Exception) -> Exception:
    status = getattr(e, "status_code", None) or getattr(e, "code", None)
    body = getattr(e, "body", None) or getattr(e, "details", None)
    message = getattr(e, "message", None) or str(e)
    headers = getattr(getattr(e, "response", None), "headers", None)
    return classify_status(status, " ".join(str(message).split())[:300], headers, body)


class AnthropicBatches:
    """Anthropic Message Batches: submit, poll and read the results of one batch."""
    DONE = ("ended",)

    def __init__(self, backend):
        import anthropic

        self.b, self._errors = backend, (anthropic.APIStatusError,)

    async def submit(self, requests: list[tuple[str, str | None, str]], s: RunSettings) -> str:
        """Create a Message Batch from `(custom_id, system, user)` requests; returns the batch id."""
        reqs = [{"custom_id": cid, "params": self.b.params(system, user, max_tokens=s.max_tokens,
                                                             temperature=s.temperature)}
                for cid, system, user in requests]
        return (await self.b.client.messages.batches.create(requests=reqs)).id

    async def poll(self, batch_id: str) -> tuple[bool, dict]:
        """`(done, request counts)` of a batch; done once its processing status is `ended`."""
        batch = await self.b.client.messages.batches.retrieve(batch_id)
        return batch.processing_status in self.DONE, batch.request_counts.model_dump()

    async def results(self, batch_id: str) -> dict[str, Completion | str]:
        """custom id -> `Completion` for each succeeded request, or an error string for one
        that errored, expired or was canceled.
        """
        out: dict[str, Completion | str] = {}
        async for r in await self.b.client.messages.batches.results(batch_id):
            if r.result.type == "succeeded":
                out[r.custom_id] = anthropic_completion(r.result.message)
            else:
                err = getattr(getattr(getattr(r.result, "error", None), "error", None), "message", "")
                out[r.custom_id] = f"batch item {r.result.type} {err}".strip()
        return out


class OpenAIBatches:
    """The OpenAI Batch API: upload a JSONL request file, poll the batch, read its output and error files."""
    DONE = ("completed", "failed", "expired", "cancelled")

    def __init__(self, backend):
        import openai
        from openai.types.chat import ChatCompletion

        self.b, self._errors, self._completion = backend, (openai.APIStatusError,), ChatCompletion

    async def submit(self, requests, s: RunSettings) -> str:
        """Upload the `(custom_id, system, user)` requests as JSONL and create a 24h batch; returns its id."""
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                             "body": self.b.body(system, user, max_tokens=s.max_tokens, temperature=s.temperature)})
                 for cid, system, user in requests]
        upload = await self.b.client.files.create(file=("teacher_batch.jsonl", "\n".join(lines).encode()),
                                                  purpose="batch")
        batch = await self.b.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                   completion_window="24h")
        return batch.id

    async def poll(self, batch_id: str) -> tuple[bool, dict]:
        """`(done, status and request counts)`; done once completed, failed, expired or cancelled."""
        batch = await self.b.client.batches.retrieve(batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return batch.status in self.DONE, {"status": batch.status, **counts}

    async def results(self, batch_id: str) -> dict[str, Completion | str]:
        """custom id -> `Completion` for each 200 response of the output file, or an error string
        for each failed line (output or error file).
        """
        batch = await self.b.client.batches.retrieve(batch_id)
        out: dict[str, Completion | str] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = (await self.b.client.files.content(file_id)).text
            for line in filter(None, (x.strip() for x in text.splitlines())):
                row = json.loads(line)
                resp = row.get("response") or {}
                if resp.get("status_code") == 200 and not row.get("error"):
                    out[row["custom_id"]] = openai_completion(self._completion.model_validate(resp["body"]))
                else:
                    err = row.get("error") or (resp.get("body") or {}).get("error") or {}
                    out[row["custom_id"]] = f"batch item failed: {err.get('code', '')} {err.get('message', '')}"
        return out


class GeminiBatches:
    """Gemini batch mode with inlined requests; answers are matched by the metadata `key`."""
    DONE = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")

    def __init__(self, backend):
        self.b, self._errors = backend, (backend._genai.errors.APIError,)

    async def submit(self, requests, s: RunSettings) -> str:
        """Create a batch job of inlined `(custom_id, system, user)` requests; returns the job name."""
        types = self.b._types
        src = [types.InlinedRequest(contents=user, metadata={"key": cid},
                                    config=self.b.config(system, max_tokens=s.max_tokens, temperature=s.temperature))
               for cid, system, user in requests]
        job = await self.b.client.aio.batches.create(model=self.b.model, src=src,
                                                     config={"display_name": "grpo_bt_rm teacher"})
        return job.name

    async def poll(self, batch_id: str) -> tuple[bool, dict]:
        """`(done, state)`; done once the job has succeeded, failed, been cancelled or expired."""
        job = await self.b.client.aio.batches.get(name=batch_id)
        state = getattr(job.state, "name", str(job.state))
        return state in self.DONE, {"state": state}

    async def results(self, batch_id: str) -> dict[str, Completion | str]:
        """custom id -> `Completion` for each inlined response, or an error string where it
        failed; responses without a key are skipped.
        """
        job = await self.b.client.aio.batches.get(name=batch_id)
        out: dict[str, Completion | str] = {}
        for r in (job.dest.inlined_responses if job.dest else None) or ():
            cid = (r.metadata or {}).get("key")
            if cid is None:
                continue
            out[cid] = gemini_completion(r.response) if r.response is not None and not r.error else \
                f"batch item failed: {r.error}"
        return out


BATCH_CLIENTS = {"anthropic": AnthropicBatches, "openai": OpenAIBatches, "gemini": GeminiBatches}


# --- the run ---------------------------------------------------------------------------------------------------


async def _sdk(client, call):
    try:
        return await call
    except client._errors as e:
        raise _api_error(e) from None


async def run_batches(jobs: list[BatchJob], units: list[list[Item]], backend, backend_name: str,
                      s: RunSettings, sink: Callable[[list[dict]], None], run_dir: Path, pairs: dict[str, Pair],
                      poll_s: float = 30.0, progress: bool = True) -> RunStats:
    """Finish the adopted `jobs`, then submit `units` as one new job and finish it; failed items go online."""
    if backend_name not in BATCH_CLIENTS:
        raise InputError(f"--batch_api: backend {backend_name!r} has no batch endpoint here "
                         f"(supported: {', '.join(sorted(BATCH_CLIENTS))})")
    client = BATCH_CLIENTS[backend_name](backend)
    stats = RunStats()
    start = time.monotonic()
    if units:
        job = BatchJob.create(run_dir, backend_name, s.model, units)
        requests = [(cid, *build_request(unit, s.prompt, s.pairwise)) for cid, unit in zip(job.state["units"], units)]
        try:
            batch_id = await _sdk(client, client.submit(requests, s))
        except (TransientError, FatalError):
            job.finish()  # the provider refused it: nothing was submitted, nothing to resume
            raise
        job.state["batch_id"] = batch_id
        job.save()
        stats.batch_jobs += 1
        log.info("submitted batch %s: %d requests (state in %s)", batch_id, len(units), job.path)
        jobs = [*jobs, job]
    for job in jobs:
        await _finish(job, client, backend, s, sink, pairs, poll_s, stats, progress)
    stats.wall_s = time.monotonic() - start
    return stats


async def _finish(job: BatchJob, client, backend, s: RunSettings, sink, pairs: dict[str, Pair], poll_s: float,
                  stats: RunStats, progress: bool) -> None:
    batch_id = job.state["batch_id"]
    failures = 0
    while True:
        try:
            done, counts = await _sdk(client, client.poll(batch_id))
            failures = 0
        except TransientError as e:
            failures += 1
            if failures > s.max_retries:
                raise FatalError(f"batch {batch_id}: {e} ({failures} polls in a row failed); --resume polls the same "
                                 "batch again") from None
            done, counts = False, {"poll_error": str(e)}
        log.info("batch %s: %s", batch_id, counts)
        if done:
            break
        await asyncio.sleep(poll_s)
    results = await _sdk(client, client.results(batch_id))
    units = job.units(pairs)
    records: list[dict] = []
    asm = Assembler(s, stats, records.append)
    failed = []
    for cid, unit in units.items():
        got = results.get(cid, "batch item missing from the results")
        if isinstance(got, str):
            failed.append(unit)
            log.warning("batch %s item %s: %s; asking online instead", batch_id, cid, got)
            continue
        usage = _Usage()
        usage.add(got)
        answers = parse_answer(unit, got.text, s.prompt, s.pairwise, truncated=got.truncated, blocked=got.blocked,
                               stop_reason=got.stop_reason)
        asm.deliver(unit, answers, usage, 0.0, 1, api="batch")
    stats.batch_items += len(units) - len(failed)
    stats.batch_fallbacks += len(failed)
    if records:
        await asyncio.to_thread(sink, records)
    if failed:
        await run_units(failed, backend, s, sink, progress, assembler=asm)
    job.finish()
