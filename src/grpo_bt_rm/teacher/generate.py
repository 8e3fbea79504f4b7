"""Score preference pairs with a teacher API (Claude, Gemini or any OpenAI-compatible server), resumably.

    python -m grpo_bt_rm.teacher.generate --backend anthropic --model claude-sonnet-4-20250514 \\
        --dataset anthropic_hh --split train --n_pairs 1000 --concurrency 16 --resume
    python -m grpo_bt_rm.teacher.generate --backend openai --base_url http://127.0.0.1:8000/v1 --model my-judge ...

Writes <output_dir>/<scale>_<backend>_<model>[_pairwise]/{results.jsonl, summary.json, manifest.json}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import logging
import os
import random
import re
import sys
import time
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, POSITIVE, SEED, float_in, int_at_least
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data import Pair, get_adapter, load_pairs
from grpo_bt_rm.io import InputError, manifest_base, sha256_file, write_json
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.prompts import PROMPTS, SCALES, PromptSpec, default_prompt, get_prompt
from grpo_bt_rm.teacher import records as rec_io
from grpo_bt_rm.teacher.backends import BACKENDS, DUMMY_KEY, BackendConfig, FatalError, is_local, redact
from grpo_bt_rm.teacher.pricing import PRICES_CHECKED, cost_usd, price_for
from grpo_bt_rm.teacher.runner import RunSettings, make_units, run_pairs
from grpo_bt_rm.teacher.settings import TeacherSettings
from grpo_bt_rm.teacher.tasks import build_request, content_hash

log = logging.getLogger(__name__)

# Settings that must agree between runs sharing one output directory (else records would not be comparable).
SHARED_SETTINGS = ("dataset", "split", "prompt", "scale", "backend", "model", "pairwise", "seed", "shuffle")


class _RedactFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = ()
        return True


def resolve_prompt(args: TeacherSettings) -> PromptSpec:
    """The judge prompt of a run: `--prompt` if given, else the dataset family's default for `--scale`
    (score100 when unset).

    Raises:
        InputError: `--scale` disagrees with the scale of `--prompt`.
        KeyError: an unknown prompt or dataset name.
    """
    if args.prompt:
        prompt = get_prompt(args.prompt)
        if args.scale and args.scale != prompt.scale:
            raise InputError(f"--scale {args.scale} disagrees with --prompt {prompt.name} (scale {prompt.scale})")
        return prompt
    return default_prompt(get_adapter(args.dataset).family, args.scale or "score100")


def resolve_key(args: TeacherSettings) -> str | None:
    """The API key for the backend: `--api_key`, else the first set variable of the backend's `key_envs`.

    A backend that needs no key gets None (or whatever was found); a local server (`is_local`) gets a dummy key.

    Raises:
        InputError: the backend needs a key, none was found and the endpoint is not local.
    """
    spec = BACKENDS.get(args.backend)
    key = args.api_key or next((os.environ[e] for e in spec.key_envs if os.environ.get(e)), None)
    if key or not spec.needs_key:
        return key
    if is_local(args.base_url):
        return DUMMY_KEY  # local OpenAI-compatible servers (vLLM, sglang) accept any key
    envs = " or ".join(spec.key_envs) or "(none)"
    raise InputError(f"--api_key: no API key for backend {args.backend!r}; pass --api_key or set {envs}")


def select_pairs(args: TeacherSettings) -> tuple[list[Pair], dict[str, Pair]]:
    """(this run's pairs, every loaded pair by key: a pending batch may hold pairs of another range)."""
    pairs, stats = load_pairs(args.dataset, args.split, args.data_files, skip_bad=args.skip_bad)
    log.info("loaded %d pairs from %s/%s (%s)", len(pairs), args.dataset, args.split, stats.as_dict())
    if not args.no_shuffle:
        random.Random(args.seed).shuffle(pairs)
    end = None if args.n_pairs is None else args.skip_pairs + args.n_pairs
    return pairs[args.skip_pairs:end], {p.key: p for p in pairs}


def run_dir(args: TeacherSettings, prompt: PromptSpec) -> Path:
    """The run's output directory: `<output_dir or teacher_data>/<scale>_<backend>_<model>[_pairwise]`,
    with the model id made file-safe.
    """
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", args.model).strip("-")
    root = Path(args.output_dir) if args.output_dir else default_path("teacher_data")
    return root / f"{prompt.scale}_{args.backend}_{model}{'_pairwise' if args.pairwise else ''}"


def shared_settings(args: TeacherSettings, prompt: PromptSpec) -> dict:
    """The settings every run in one directory must share (dataset, split, prompt, scale, backend,
    model, pairwise, seed, shuffle); `update_manifest` refuses a run that differs.
    """
    return {"dataset": args.dataset, "split": args.split, "prompt": prompt.name, "scale": prompt.scale,
            "backend": args.backend, "model": args.model, "pairwise": args.pairwise, "seed": args.seed,
            "shuffle": not args.no_shuffle}


def update_manifest(path: Path, args: TeacherSettings, prompt: PromptSpec, run: dict,
                    data_files: list[str]) -> None:
    """Check that this run matches the directory's earlier runs, then append this run (under the results lock).

    Args:
        path: the run directory's manifest.json.
        data_files: the local raw files the pairs came from (globs expanded); their sha256 must match earlier runs'.

    Raises:
        InputError: the directory was made with other shared settings or other data files.
    """
    mine = shared_settings(args, prompt)
    files = [str(Path(f).resolve()) for f in data_files]
    hashes = {f: sha256_file(f) for f in files}
    with rec_io.locked(path.parent / rec_io.RESULTS):
        old = json.loads(path.read_text()) if path.exists() else None
        if old:
            diff = {k: (old.get(k), mine[k]) for k in SHARED_SETTINGS if old.get(k) != mine[k]}
            if diff:
                raise InputError(f"{path}: this output directory was made with different settings "
                                 f"(existing vs now: {diff}); use another --output_dir")
            if sorted(old.get("data_sha256", {}).values()) != sorted(hashes.values()):
                raise InputError(f"{path}: the --data_files differ from the ones this directory was made from "
                                 "(sha256 mismatch), so pair keys could point at other pairs; use another "
                                 "--output_dir")
            manifest = old
        else:
            manifest = manifest_base(**mine, prompt_version=prompt.version, parser=prompt.parser,
                                     parser_settings=get_parser(prompt.parser).describe(), data_files=files,
                                     data_sha256=hashes, runs=[])
        manifest["runs"].append(run)
        write_json(path, manifest)


def dry_run(units, prompt: PromptSpec, args: TeacherSettings) -> dict:
    """Estimate a run's size and cost without sending anything.

    Input tokens are estimated as characters / 4; output tokens are an upper bound (every answer uses its whole
    `max_tokens` plus the thinking budget).

    Returns:
        Request count, token estimates and upper-bound costs in USD, online and through the batch API.

    Raises:
        InputError: the model has no price in `teacher/pricing.py` and `--price_in`/`--price_out` were not given.
    """
    chars = 0
    for unit in units:
        system, user = build_request(unit, prompt, args.pairwise)
        chars += len(system or "") + len(user)
    est_in = chars // 4  # ~4 characters per token for English text
    # an upper bound: every answer uses the whole budget, thinking included
    est_out = len(units) * (args.max_tokens + (args.thinking_budget or 0))
    price = price_for(args.model, args.price_in, args.price_out)
    if price is None:
        raise InputError(f"--dry_run: no price for --model {args.model!r} in the table (teacher/pricing.py, "
                         f"checked {PRICES_CHECKED}); pass --price_in and --price_out (USD per million tokens)")
    return {"dry_run": True, "requests": len(units), "estimated_input_tokens": est_in,
            "max_output_tokens": est_out, "estimated_cost_usd_upper": cost_usd(est_in, est_out, price),
            "estimated_batch_api_cost_usd_upper": cost_usd(est_in, est_out, price, batch=True),
            "price_per_mtok": price._asdict(), "prices_checked": PRICES_CHECKED if args.price_in is None else None}


def generate(args: TeacherSettings) -> str:
    """Score the selected pairs (or, with --dry_run, estimate the cost) and return the report (JSON text).

    Raises:
        InputError: bad data, an output directory made with other settings, no API key, existing records
            without --resume, nothing left to score. KeyError: an unknown backend, dataset or prompt.
        FatalError: the API refused the run (bad key, quota), or every request in it failed.
    """
    for mod in args.plugin:
        importlib.import_module(mod)  # lets other modules register extra backends
    BACKENDS.get(args.backend)
    prompt = resolve_prompt(args)
    secrets = tuple(s for s in (args.api_key, *(os.environ.get(e) for e in BACKENDS.get(args.backend).key_envs))
                    if s)
    data_files: list[str] = []
    if args.data_files:
        from grpo_bt_rm.data.adapters import expand_files

        data_files = expand_files(list(args.data_files))
    out = run_dir(args, prompt)
    results = out / rec_io.RESULTS
    pairs, by_key = select_pairs(args)
    if results.exists() and results.stat().st_size > 0 and not args.resume and not args.dry_run:
        raise InputError(f"{results} already holds records; pass --resume to keep them and score only the "
                         "missing or errored pairs (also how runs with different --skip_pairs share it)")
    if args.resume and results.exists():
        rec_io.compact(results)
    with rec_io.locked(results):
        todo, claim, jobs = _take_pairs(args, out, results, pairs)
    try:
        settings = RunSettings(
            backend=args.backend, model=args.model, prompt=prompt, pairwise=args.pairwise,
            batch_size=args.batch_size, concurrency=args.concurrency, rpm_limit=args.rpm_limit,
            max_retries=args.max_retries, retry_base_delay=args.retry_base_delay, max_backoff=args.max_backoff,
            max_retry_wait=args.max_retry_wait, parse_retries=args.parse_retries, max_tokens=args.max_tokens,
            temperature=args.temperature, seed=args.seed, secrets=secrets)
        units = make_units(todo, settings)
        if args.dry_run:
            report = dry_run(units, prompt, args) | {"pairs_selected": len(pairs),
                                                     "pairs_done": len(pairs) - len(todo)}
            return json.dumps(report, indent=2)
        api_key = resolve_key(args)
        secrets = tuple(dict.fromkeys(s for s in (*secrets, api_key) if s))
        settings = dataclasses.replace(settings, secrets=secrets)
        redactor = _RedactFilter(secrets)
        for h in logging.getLogger().handlers:
            h.addFilter(redactor)
        try:
            return _score(args, prompt, pairs, todo, units, settings, api_key, out, results, jobs, by_key,
                          data_files)
        finally:
            for h in logging.getLogger().handlers:
                h.removeFilter(redactor)
    finally:
        if claim is not None:
            claim.release()


def _take_pairs(args: TeacherSettings, out: Path, results: Path,
                pairs: list[Pair]) -> tuple[list[Pair], rec_io.Claim | None, list]:
    """(pairs this run scores, its claim on them, pending batch jobs it adopted), under the results lock: skips
    completed pairs (with --resume), pairs another live run holds and pairs inside an adopted batch; refuses
    records whose pair content differs from the pair their key names."""
    done: set[str] = set()
    if args.resume:
        by_key = rec_io.latest_by_key(rec_io.read_records(results)[0])
        moved = [(p.key, r.get("content_sha")) for p in pairs if (r := by_key.get(p.key)) is not None
                 and r.get("content_sha") not in (None, content_hash(p))]
        if moved:
            raise InputError(f"{results}: {len(moved)} records were made for other pair contents than the pairs "
                             f"their keys name now (first: {moved[0][0]}); the --data_files changed order or "
                             "content, so their judgements would land on other pairs; use another --output_dir")
        unchecked = sum(1 for p in pairs if p.key in by_key and by_key[p.key].get("content_sha") is None)
        if unchecked:
            log.warning("%d records in %s predate content hashes: they cannot be checked against the pairs their "
                        "keys name now (only the data files' sha256 was)", unchecked, results)
        done = {k for k, r in by_key.items()
                if rec_io.is_complete(r) and not (args.retry_parse_failures and r.get("parse_failures"))}
    jobs = []
    if args.batch_api and not args.dry_run:
        from grpo_bt_rm.teacher.batch_api import adopt_jobs

        jobs = adopt_jobs(out, args.backend, args.model)
    in_jobs = {k for job in jobs for k in job.keys()}
    left = [p for p in pairs if p.key not in done and p.key not in in_jobs]
    held = rec_io.live_claims(out)
    todo = [p for p in left if p.key not in held]
    if len(todo) < len(left):
        pids = sorted({held[p.key] for p in left if p.key in held})
        msg = (f"{len(left) - len(todo)} of the {len(left)} pairs left to score are being scored by another run "
               f"on {out} (PID {', '.join(map(str, pids))})")
        if not todo and not jobs:
            raise InputError(f"{msg}; nothing left for this run. Wait for it, or give this run another "
                             "--skip_pairs/--n_pairs range")
        log.warning("%s; this run takes the other %d", msg, len(todo))
    keys = [p.key for p in todo] + sorted(in_jobs)
    claim = rec_io.Claim(out, keys) if keys and not args.dry_run else None
    return todo, claim, jobs


def _score(args: TeacherSettings, prompt: PromptSpec, pairs: list[Pair], todo: list[Pair], units: list,
           settings: RunSettings, api_key: str | None, out: Path, results: Path, jobs: list,
           by_key: dict[str, Pair], data_files: list[str]) -> str:
    """Record the run in the manifest, score `todo`, compact the results and write the summary.

    Returns:
        The report: the summary's main counts as JSON text."""
    log.info("%d pairs selected, %d already done, %d to score in %d requests -> %s", len(pairs),
             len(pairs) - len(todo), len(todo), len(units), results)
    run = {"skip_pairs": args.skip_pairs, "n_pairs": args.n_pairs, "selected": len(pairs), "to_score": len(todo),
           "batch_size": args.batch_size, "concurrency": args.concurrency, "rpm_limit": args.rpm_limit,
           "max_tokens": args.max_tokens, "temperature": args.temperature,
           "thinking_budget": args.thinking_budget, "reasoning_effort": args.reasoning_effort,
           "batch_api": args.batch_api,
           "base_url": redact(args.base_url, settings.secrets) if args.base_url else None,
           "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    from grpo_bt_rm.teacher.backends import make_backend

    backend = make_backend(args.backend, BackendConfig(args.model, api_key, args.base_url, args.timeout,
                                                       args.thinking_budget, args.reasoning_effort))
    update_manifest(out / "manifest.json", args, prompt, run, data_files)

    def sink(recs: list[dict]) -> None:
        rec_io.append_records(results, recs)

    async def main() -> object:
        try:
            if args.batch_api:
                from grpo_bt_rm.teacher.batch_api import run_batches

                return await run_batches(jobs, units, backend, args.backend, settings, sink, out, by_key,
                                         args.batch_poll_s, progress=not args.no_progress)
            return await run_pairs(todo, backend, settings, sink, progress=not args.no_progress)
        finally:
            await backend.aclose()

    stats = asyncio.run(main()) if todo or jobs else None
    final = rec_io.compact(results) if results.exists() else {}
    price = price_for(args.model, args.price_in, args.price_out)
    summary = rec_io.summarize(final.values(), price) | {
        "results": str(results), "prompt": prompt.name, "model": args.model, "backend": args.backend,
        "this_run": None if stats is None else dataclasses.asdict(stats)}
    with rec_io.locked(results):
        write_json(out / "summary.json", summary)
    report = json.dumps({k: summary[k] for k in ("records", "accuracy", "strict_accuracy", "ties", "parse_failures",
                                                 "truncated", "blocked", "errors", "total_tokens", "thinking_tokens",
                                                 "estimated_cost_usd", "results")}, indent=2)
    if summary["truncated"]:
        log.warning("%d answers were cut off at the token limit and have no score (parse failure 'truncated'): "
                    "raise --max_tokens (now %d) or set --thinking_budget, then --resume --retry_parse_failures",
                    summary["truncated"], args.max_tokens)
    if summary["blocked"]:
        log.warning("answers withheld by the provider, by reason: %s (not asked again)", summary["blocked"])
    if stats is not None and stats.fatal:
        raise FatalError(f"stopped: {stats.fatal}")
    if stats is not None and stats.records and stats.records == stats.errors:
        raise FatalError(f"no pair completed in this run: all {stats.records} ended in an error (see the "
                         f"`error` field in {results}); --resume retries them")
    return report


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.teacher.generate` argument parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("teacher")
    g.add_argument("--backend", required=True, help=f"teacher API: {', '.join(BACKENDS.names())} (or one a --plugin "
                   "module registers)")
    g.add_argument("--model", required=True, help="model name sent to the API, e.g. claude-sonnet-4-20250514")
    g.add_argument("--api_key", help="API key; default from ANTHROPIC_API_KEY / GEMINI_API_KEY or GOOGLE_API_KEY / "
                   "OPENAI_API_KEY; not needed when --base_url is a local server. Never logged or written")
    g.add_argument("--base_url", help="API endpoint override for any backend (e.g. http://127.0.0.1:8000/v1 for a "
                   "local vLLM/sglang server with --backend openai)")
    g.add_argument("--plugin", action="append", help="import this module first (it may register more backends); "
                   "repeatable")
    g.add_argument("--max_tokens", type=COUNT, default=512, help="answer token budget per request (default 512)")
    g.add_argument("--temperature", type=float_in(0), help="sampling temperature (default: not sent, the API's default)")
    g.add_argument("--timeout", type=POSITIVE, default=120.0, help="seconds before one request times out (default 120)")
    g.add_argument("--thinking_budget", type=COUNT, help="thinking tokens per answer, on top of --max_tokens "
                   "(anthropic: thinking.budget_tokens, >= 1024; gemini: thinking_config.thinking_budget, 0 turns "
                   "thinking off on models that allow it); default: not sent. Not for openai")
    g.add_argument("--reasoning_effort", choices=["minimal", "low", "medium", "high"], help="openai reasoning "
                   "models: reasoning_effort (their only thinking control); default: not sent")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="anthropic_hh", help="dataset adapter (default anthropic_hh)")
    d.add_argument("--split", default="train", help="dataset split (default train)")
    d.add_argument("--data_files", action="extend", nargs="+", metavar="FILE", help="local raw files/globs instead of the hub")
    d.add_argument("--skip_bad", action="store_true", help="skip malformed raw rows instead of failing")
    d.add_argument("--prompt", help=f"registered judge prompt ({len(PROMPTS)} known); default <family>_<scale>_v1 "
                   "for the dataset")
    d.add_argument("--scale", choices=sorted(SCALES), help="score scale; must match --prompt (default score100)")
    d.add_argument("--n_pairs", type=COUNT, help="how many pairs to score after --skip_pairs (default: all)")
    d.add_argument("--skip_pairs", type=int_at_least(0), default=0, help="skip this many pairs of the (shuffled) order first, "
                   "so separate runs can take disjoint ranges")
    d.add_argument("--seed", type=SEED, default=0, help="seed of the pair order, the A/B order and retry jitter")
    d.add_argument("--no_shuffle", action="store_true", help="keep source order instead of a seeded shuffle")
    r = p.add_argument_group("requests")
    r.add_argument("--batch_size", type=COUNT, default=1, help="pairs per request; >1 sends several evaluations with "
                   "explicit ids in one request (answers matched by id)")
    r.add_argument("--pairwise", action="store_true", help="score both responses of a pair in one request, in a "
                   "seeded random A/B order (recorded as ab_order)")
    r.add_argument("--batch_api", action="store_true", help="send the requests through the provider's batch "
                   "endpoint (Anthropic Message Batches, OpenAI Batch, Gemini batch mode: about half the price, "
                   "answers within 24 h); a crashed run's batch is resumed with --resume, never submitted twice; "
                   "items the batch fails are asked online")
    r.add_argument("--batch_poll_s", type=POSITIVE, default=30.0, help="seconds between batch status checks "
                   "(default 30)")
    r.add_argument("--concurrency", type=COUNT, default=8, help="requests in flight at once (default 8)")
    r.add_argument("--rpm_limit", type=float_in(0), default=0.0, help="at most this many requests per minute (0 = no limit)")
    r.add_argument("--max_retries", type=int_at_least(0), default=5, help="retries per request on 429/529/5xx/timeouts/"
                   "connection errors before the pair is recorded as an error (default 5)")
    r.add_argument("--retry_base_delay", type=POSITIVE, default=1.0, help="first backoff step in seconds (doubles)")
    r.add_argument("--max_backoff", type=POSITIVE, default=60.0, help="largest step of our own backoff in seconds")
    r.add_argument("--max_retry_wait", type=float_in(0), default=600.0, help="longest wait the server may ask for before "
                   "a retry (retry-after header, or a retry delay in the error body), honoured exactly; a longer "
                   "one is cut to this and logged (default 600)")
    r.add_argument("--parse_retries", type=int_at_least(0), default=1, help="re-asks for a single-response answer without a "
                   "valid score before it is recorded as a parse failure (default 1)")
    o = p.add_argument_group("output")
    o.add_argument("--output_dir", help="parent of the run directory (default $GRPO_BT_RM_BASE_DIR/teacher_data)")
    o.add_argument("--resume", action="store_true", help="keep existing records; score only pairs without a "
                   "completed record (errored pairs are retried and their records replaced)")
    o.add_argument("--retry_parse_failures", action="store_true", help="with --resume, also ask again for pairs "
                   "whose answer had no valid score (their records are replaced)")
    o.add_argument("--dry_run", action="store_true", help="print the number of requests and estimated tokens and "
                   "cost; send nothing")
    o.add_argument("--price_in", type=float_in(0), help="input price in USD per million tokens (overrides the table)")
    o.add_argument("--price_out", type=float_in(0), help="output price in USD per million tokens (overrides the table)")
    o.add_argument("--no_progress", action="store_true", help="no progress bar")
    o.add_argument("--log_level", default="INFO", help="logging level (default INFO)")
    return p


NOISY_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "anthropic", "google_genai", "aiohttp")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: score pairs with a teacher model; returns the exit code.

    Exit 2 on input or settings errors, 1 on a `FatalError` from the provider; the API key is redacted from errors.
    """
    args = build_argparser().parse_args(argv)
    secrets = tuple(s for s in (args.api_key,) if s)
    return run_cli(lambda: generate(TeacherSettings.from_args(args)), log_level=args.log_level, quiet=NOISY_LOGGERS,
                   errors={FatalError: 1}, redact=lambda msg: redact(msg.strip(chr(34)), secrets))


if __name__ == "__main__":
    sys.exit(main())
