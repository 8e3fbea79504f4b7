"""Evaluate many (checkpoint, seed) jobs over a pool of devices, resumably, then summarize the JSON results.

    scripts/run_eval_sweep.sh --run_dir RUN --ckpts "base checkpoint-100 checkpoint-200" --seeds "0 1" --gpus 0,1 \\
        --n_pairs 500 --prompt hh_score100_v1 --bt_temp 20 --dataset anthropic_hh --split test
    python -m grpo_bt_rm.eval.sweep ...   (same flags)

- Dynamic scheduling: one worker per GPU (or `--cpu_workers` with `--gpus cpu`) takes the next job when free.
- Resume: a job whose complete result JSON exists, made with the job's settings (model and weights fingerprint, data
  files and hashes, n_pairs, data_seed, prompt, parser, sampling, bt_temp, response prefix, ...), is skipped; a
  killed job leaves no result file, so it is redone. A result made with other settings is moved to
  <out_dir>/stale/<time>-<id>/ and its job rerun (`--rerun_changed`, the default), or with `--no-rerun_changed` the
  sweep stops before running anything and names the differing settings.
- A failed job makes the sweep exit 1 and names it; finished jobs are kept and summarized.
- Every flag not listed here goes to eval_bt unchanged (checked against its parser at start); `--no_plot` also skips
  summary.png.
- `--shard i/n` runs every n-th job from the i-th (0-based) and writes no summary: run one shard per machine, then
  `python tools/merge_sweep_shards.py DIR... --out_dir MERGED` checks and summarizes all shards' results.
Outputs in RUN/<eval_subdir>/: eval_<ckpt>_seed<s>.json (+ .log, .run.log, .reliability.png), summary.csv/md/png.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import CommandFailed, run_cli
from grpo_bt_rm.eval import eval_bt
from grpo_bt_rm.eval.staleness import differences, job_settings
from grpo_bt_rm.eval.summary import load_results, read_result, upload_wandb, write_summary
from grpo_bt_rm.io import InputError, honour_umask

log = logging.getLogger(__name__)
EVAL_CMD = (sys.executable, "-m", "grpo_bt_rm.eval.eval_bt")  # one job; tests swap in a stand-in
RESERVED = {"--run_dir", "--checkpoint", "--seed", "--out_json", "--save_completions", "--from_completions",
            "--device"}


@dataclass(frozen=True)
class Job:
    """One eval_bt run of the sweep: a checkpoint, a seed and the result file it writes.

    Attributes:
        ckpt: the checkpoint as given in `--ckpts`.
        name: its file-safe label (see `ckpt_label`).
        seed: the eval seed.
        out_json: the result path, `eval_dir/eval_<name>_seed<seed>.json`.
    """
    ckpt: str  # as given in --ckpts
    name: str  # file-safe checkpoint label
    seed: int
    out_json: Path

    @property
    def label(self) -> str:
        """`name/seed<seed>`, for log lines."""
        return f"{self.name}/seed{self.seed}"


def ckpt_label(spec: str) -> str:
    """A file-safe label for a checkpoint spec: a path's last component, other characters replaced by `_`.

    >>> ckpt_label("/runs/a/checkpoint-200")
    'checkpoint-200'
    """
    p = Path(spec)
    raw = spec if not (p.is_absolute() or "/" in spec) else (p.name or "model")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


def plan(ckpts: list[str], seeds: list[int], eval_dir: Path) -> list[Job]:
    """One `Job` per (checkpoint, seed), checkpoints in order and seeds within each.

    Raises:
        InputError: two different checkpoint specs would get the same label (and overwrite each other's files).
    """
    names: dict[str, str] = {}
    jobs = []
    for ck in ckpts:
        name = ckpt_label(ck)
        if name in names and names[name] != ck:
            raise InputError(f"--ckpts: {ck!r} and {names[name]!r} would both be labelled {name!r}")
        names[name] = ck
        for s in seeds:
            jobs.append(Job(ck, name, s, eval_dir / f"eval_{name}_seed{s}.json"))
    return jobs


def devices(spec: str, cpu_workers: int) -> list[str]:
    """'cpu' -> cpu_workers CPU slots ('' = no GPU); '0,1' or '0 1' -> one slot per GPU."""
    spec = spec.strip()
    if spec == "cpu":
        return [""] * max(cpu_workers, 1)
    ids = [g for g in re.split(r"[,\s]+", spec) if g]
    if not ids or not all(g.isdigit() for g in ids):
        raise InputError(f"--gpus {spec!r}: expected GPU ids like '0,1' or '0 1', or 'cpu'")
    return ids


class Sweep:
    """Run eval_bt jobs as subprocesses, one worker thread per device slot (a CUDA_VISIBLE_DEVICES value).

    Args:
        jobs: the jobs to run.
        slots: one CUDA_VISIBLE_DEVICES value per parallel worker ("" for CPU).
        base_cmd: the eval_bt command before the per-job flags.
        passthrough: further flags appended to every job's command.
    """
    def __init__(self, jobs: list[Job], slots: list[str], base_cmd: list[str], passthrough: list[str]):
        self.jobs = jobs
        self.slots = slots
        self.base_cmd = base_cmd
        self.passthrough = passthrough
        self.todo: queue.Queue[Job] = queue.Queue()
        self.failed: list[tuple[Job, int]] = []
        self.done: list[Job] = []
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.stopping = False

    def command(self, job: Job, run_dir: str | None) -> list[str]:
        """The command line of one job: base command, its checkpoint, seed and output, run dir, passthrough."""
        cmd = [*self.base_cmd, "--checkpoint", job.ckpt, "--seed", str(job.seed), "--out_json", str(job.out_json)]
        if run_dir:
            cmd += ["--run_dir", run_dir]
        return cmd + self.passthrough

    def worker(self, slot: str, run_dir: str | None, save_completions: bool) -> None:
        """Take jobs from the queue and run each on `slot` until the queue is empty or the sweep stops.

        A job's output goes to `<out_json>.run.log`; it counts as done only if it exits 0 and leaves a complete result.
        """
        while not self.stopping:
            try:
                job = self.todo.get_nowait()
            except queue.Empty:
                return
            cmd = self.command(job, run_dir)
            if save_completions:
                cmd += ["--save_completions", str(job.out_json.with_suffix(".completions.jsonl"))]
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=slot)
            log.info("start %s on %s", job.label, f"GPU {slot}" if slot else "cpu")
            t0 = time.time()
            with open(job.out_json.with_suffix(".run.log"), "w", encoding="utf-8") as logf:
                proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
                with self.lock:
                    self.procs.add(proc)
                rc = proc.wait()
                with self.lock:
                    self.procs.discard(proc)
            ok = rc == 0 and read_result(job.out_json) is not None
            with self.lock:
                (self.done.append(job) if ok else self.failed.append((job, rc)))
            log.info("%s %s in %.1fs (rc=%d)", "done" if ok else "FAILED", job.label, time.time() - t0, rc)

    def run(self, run_dir: str | None, save_completions: bool) -> None:
        """Queue all jobs and run them on every slot in parallel, returning when all workers finish.

        Raises:
            KeyboardInterrupt: re-raised after terminating the running jobs.
        """
        for j in self.jobs:
            self.todo.put(j)
        threads = [threading.Thread(target=self.worker, args=(s, run_dir, save_completions), daemon=True)
                   for s in self.slots]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop taking jobs and terminate the running subprocesses."""
        self.stopping = True
        with self.lock:
            for p in self.procs:
                p.terminate()


def build_argparser() -> argparse.ArgumentParser:
    """The sweep's argument parser (unknown flags are passed through to eval_bt)."""
    p = argparse.ArgumentParser(prog="scripts/run_eval_sweep.sh", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run_dir", default=None, help="ms-swift run dir (args.json); checkpoint names resolve under it")
    p.add_argument("--eval_subdir", default="eval", help="results go to RUN/<eval_subdir> (default eval)")
    p.add_argument("--out_dir", default=None, help="results directory instead of RUN/<eval_subdir>")
    p.add_argument("--ckpts", required=True,
                   help="space-separated checkpoints: base, checkpoint-N (under --run_dir) or absolute paths")
    p.add_argument("--seeds", default="0", help="space-separated seeds (default '0')")
    p.add_argument("--gpus", default="cpu", help="GPU ids ('0,1' or '0 1'), one worker each; or 'cpu'")
    p.add_argument("--cpu_workers", type=COUNT, default=1, help="parallel jobs with --gpus cpu (default 1)")
    p.add_argument("--save_completions", action="store_true",
                   help="also write eval_<ckpt>_seed<s>.completions.jsonl per job")
    p.add_argument("--title", default=None, help="title of summary.md / summary.png (default: run dir name)")
    p.add_argument("--no_wandb", action="store_true", help="do not upload even if WANDB_PROJECT is set")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="run only jobs I, I+N, I+2N, ... of the plan (0 <= I < N); no summary (merge the shards' "
                   "results with tools/merge_sweep_shards.py)")
    p.add_argument("--rerun_changed", action=argparse.BooleanOptionalAction, default=True,
                   help="a stored result made with other settings is moved to <out_dir>/stale/<time>-<id>/ and rerun "
                   "(default); with --no-rerun_changed the sweep refuses and names the differing settings")
    return p


def parse_shard(spec: str | None) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n; None -> (0, 1)."""
    if spec is None:
        return 0, 1
    i, sep, n = spec.partition("/")
    if not (sep and i.strip().isdigit() and n.strip().isdigit()) or not 0 <= int(i) < int(n):
        raise InputError(f"--shard {spec!r}: expected I/N with 0 <= I < N (e.g. 0/4 ... 3/4)")
    return int(i), int(n)


def stale_jobs(jobs: list[Job], passthrough: list[str], run_dir: str | None, on_gpu: bool):
    """(pending jobs, [(job, differing settings)] for stored results made with other settings)."""
    pending, stale = [], []
    for j in jobs:
        stored = read_result(j.out_json)
        if stored is not None:
            diffs = differences(stored, job_settings(passthrough, j.ckpt, j.seed, j.out_json, run_dir), on_gpu=on_gpu)
            if not diffs:
                continue
            stale.append((j, diffs))
        pending.append(j)
    return pending, stale


def move_aside(jobs: list[Job], eval_dir: Path) -> Path:
    """Move each job's result and its side files (.log, .run.log, .png, .completions.jsonl) to stale/<time>/."""
    (eval_dir / "stale").mkdir(exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=eval_dir / "stale"))
    honour_umask(dest, 0o777)
    for j in jobs:
        for f in eval_dir.glob(f"{j.out_json.stem}.*"):
            os.replace(f, dest / f.name)
    return dest


def _plan_jobs(args: argparse.Namespace, passthrough: list[str]):
    """Check the flags and plan: (run_dir, eval_dir, jobs, worker slots, pending jobs, stale jobs, shard, n_shards).

    Raises:
        InputError: a flag the sweep sets itself, a mistyped or invalid eval_bt flag, no --run_dir/--out_dir,
            empty --ckpts/--seeds, a bad --shard or --gpus.
    """
    from grpo_bt_rm.eval.settings import EvalSettings

    bad = sorted({a.split("=")[0] for a in passthrough if a.split("=")[0] in RESERVED})
    if bad:
        raise InputError(f"{', '.join(bad)}: set by the sweep per job; use --run_dir/--ckpts/--seeds instead")
    # fail fast on a mistyped flag or a bad value, before any job starts
    EvalSettings.from_args(eval_bt.build_argparser().parse_args(passthrough))
    if args.run_dir:
        from grpo_bt_rm.eval.loading import resolve_run

        run_dir = str(resolve_run(args.run_dir).run_dir)
    else:
        run_dir = None
    if not args.out_dir and not run_dir:
        raise InputError("--run_dir or --out_dir is required")
    eval_dir = Path(args.out_dir or Path(run_dir) / args.eval_subdir)
    ckpts = args.ckpts.split()
    try:
        seeds = [SEED(s) for s in args.seeds.replace(",", " ").split()]
    except argparse.ArgumentTypeError as e:
        raise InputError(f"--seeds {args.seeds!r}: {e}") from None
    if not ckpts or not seeds:
        raise InputError("--ckpts and --seeds must each name at least one item")
    shard, n_shards = parse_shard(args.shard)
    jobs = plan(ckpts, seeds, eval_dir)[shard::n_shards]
    if not jobs:
        raise InputError(f"--shard {args.shard}: no job falls in this shard (the plan has fewer than "
                         f"{shard + 1} jobs)")
    slots = devices(args.gpus, args.cpu_workers)
    pending, stale = stale_jobs(jobs, passthrough, run_dir, on_gpu=any(slots))
    return run_dir, eval_dir, jobs, slots, pending, stale, shard, n_shards


def run_sweep(args: argparse.Namespace, passthrough: list[str]) -> str:
    """Plan, run the pending jobs, summarize (unless sharded) and return the report.

    Raises:
        InputError: see `_plan_jobs`; or stored results made with other settings under --no-rerun_changed.
        CommandFailed: some jobs failed (exit 1; the summary of the others is still the report).
    """
    run_dir, eval_dir, jobs, slots, pending, stale, shard, n_shards = _plan_jobs(args, passthrough)
    eval_dir.mkdir(parents=True, exist_ok=True)
    if stale:
        lines = "\n".join(f"  {j.label} ({j.out_json.name}): " + "; ".join(d) for j, d in stale)
        if not args.rerun_changed:
            raise InputError(f"{len(stale)} stored result(s) in {eval_dir} were made with other settings:\n{lines}\n"
                             "rerun them (drop --no-rerun_changed) or choose another --out_dir")
        dest = move_aside([j for j, _ in stale], eval_dir)
        log.warning("%d stored result(s) were made with other settings; moved to %s and rerunning:\n%s",
                    len(stale), dest, lines)
    log.info("%d jobs, %d already complete (skipped), %d to run on %d worker(s); results in %s", len(jobs),
             len(jobs) - len(pending), len(pending), len(slots), eval_dir)
    sweep = Sweep(pending, slots, list(EVAL_CMD), passthrough)
    signal.signal(signal.SIGTERM, lambda *_: (sweep.stop(), sys.exit(143)))
    sweep.run(run_dir, args.save_completions)
    results = load_results([j.out_json for j in jobs])
    title = args.title or (Path(run_dir).name if run_dir else eval_dir.name)
    if n_shards > 1:
        results = []  # a shard's summary would be partial: merge the shards instead
        log.info("shard %d/%d: %d jobs; merge: python tools/merge_sweep_shards.py %s ... --out_dir MERGED", shard,
                 n_shards, len(jobs), eval_dir)
    report = []
    if results:
        files = write_summary(results, eval_dir, title, plot="--no_plot" not in passthrough)  # eval_bt's flag: no PNGs
        if os.environ.get("WANDB_PROJECT") and not args.no_wandb:
            from grpo_bt_rm.eval.summary import aggregate

            files["wandb_run_dir"] = upload_wandb(files, aggregate(results), name=title,
                                                  extra_files=[r["_path"] for r in results])
        report.append(Path(files["md"]).read_text(encoding="utf-8"))
    if sweep.failed:
        names = ", ".join(f"{j.label} (rc={rc}, log {j.out_json.with_suffix('.run.log')})" for j, rc in sweep.failed)
        raise CommandFailed(f"{len(sweep.failed)} of {len(jobs)} jobs failed: {names}", code=1,
                            report="\n".join(report) or None)
    if n_shards > 1:
        report.append(f"shard {shard}/{n_shards} complete: {len(jobs)} jobs, results in {eval_dir}")
    else:
        report.append(f"sweep complete: {len(jobs)} jobs, summary in {eval_dir}")
    return "\n".join(report)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run an eval sweep; returns the exit code (2 on bad input)."""
    args, passthrough = build_argparser().parse_known_args(argv)
    return run_cli(lambda: run_sweep(args, passthrough))


if __name__ == "__main__":
    sys.exit(main())
