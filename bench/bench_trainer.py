"""Steps/s of PairGRPOTrainer vs. stock ms-swift GRPOTrainer on the same tiny CPU config (one run, ratio).

    .venv/bin/python bench/bench_trainer.py [--steps 20 --repeats 2 --model DIR]

Both arms go through scripts/train_grpo.sh with configs/runs/tiny_cpu.env and the same BT reward; the stock arm
uses a plugin that registers only the reward (so TRAINER_MAPPING['grpo'] stays ms-swift's GRPOTrainer and its
RepeatSampler). Arms alternate; the figure is the median per-step `step_time` from logging.jsonl (first step
dropped), and the overhead ratio pair/stock (target <= 1.03). Because step times on a shared CPU are noisy, it
also times in-process what the pair trainer adds per step (hooks + sampler) as a fraction of a stock step.

    .venv/bin/python bench/bench_trainer.py --real [--steps 3 --repeats 2 --pairs 16 --threads 1]
    .venv/bin/python bench/bench_trainer.py --real --study presets

--real: SmolLM2-135M-Instruct (grpo_bt_rm.smollm2), LoRA, on real HH pairs from ../shared/data/hh-rlhf/ (prompt
hh_score100_v1; the --pairs of the first 200 with the shortest prompts), one pair x 4 completions of 16 tokens per
step (the `<s>` response prefix, so scores parse), beta 0, gradient_accumulation_steps 1: an on-policy config. Both
arms run with lora_dropout 0, no gradient checkpointing and no dataset shuffling, so they see the same rows and
generate the same completions, and their per-step losses and grad norms must be equal (checked and printed); the
stock arm keeps ms-swift's old-log-prob forward, the pair arm skips it. `--study presets` instead runs the pair
trainer over lora_dropout {0.05, 0} x gradient checkpointing {on, off} and reports step time and peak RSS (memory
of the whole run's process tree). The first step of each run is dropped (warm-up).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT

ROOT = Path(__file__).resolve().parents[1]
STOCK_PLUGIN = (
    "from swift.rewards import orms\n"
    "from grpo_bt_rm.training.orm import ORM_CLASSES\n"
    "orms.update(ORM_CLASSES)  # rewards only: the stock GRPOTrainer stays in place\n"
)


def run_arm(work: Path, name: str, model: Path, dataset: Path, plugin: Path, steps: int, rep: int) -> list[float]:
    out = work / f"{name}_{rep}"
    env = dict(os.environ, MODEL=str(model), DATASET=str(dataset), OUT_DIR=str(out), PLUGIN=str(plugin),
               MAX_STEPS=str(steps), SAVE_STEPS=str(10 * steps), PER_DEVICE_TRAIN_BS="8")
    cmd = f"source {ROOT}/configs/runs/tiny_cpu.env && {ROOT}/scripts/train_grpo.sh cpu"
    proc = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{name} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    log = next(out.glob("v*-*")) / "logging.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    times = [float(r["step_time"]) for r in rows if "step_time" in r]
    trainer = "PairGRPOTrainer" if "bt/pair_acc" in rows[0] else "GRPOTrainer"
    print(f"{name} rep {rep}: {trainer}, {len(times)} steps, median step {statistics.median(times[1:]):.3f}s",
          file=sys.stderr)
    return times[1:]


REAL_HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"
MAXRSS_WRAPPER = (  # runs argv[1:] and writes the peak RSS (KiB) of its process tree to the file named by argv[1]
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)
# the real-model config, on top of configs/runs/tiny_cpu.env (rewards, logging); swift flags go last
REAL_ENV = {"MODEL_TYPE": "llama", "TEMPLATE": "chatml", "TUNER_TYPE": "lora", "NUM_GENERATIONS": "4",
            "PER_DEVICE_TRAIN_BS": "8", "GRAD_ACC_STEPS": "1", "MAX_COMPLETION_LENGTH": "16", "BETA": "0",
            "LEARNING_RATE": "1e-4", "RESPONSE_PREFIX": "'<s>'"}  # the judge starts inside its score tag
PRESET_VARIANTS = {  # name: swift flags (the pair trainer, old-log-prob forward skipped in all of them)
    "dropout0.05_gc_on": ["--lora_dropout", "0.05", "--gradient_checkpointing", "true"],  # ms-swift defaults
    "dropout0.05_gc_off": ["--lora_dropout", "0.05", "--gradient_checkpointing", "false"],
    "dropout0_gc_on": ["--lora_dropout", "0", "--gradient_checkpointing", "true"],
    "dropout0_gc_off": ["--lora_dropout", "0", "--gradient_checkpointing", "false"],
}


def run_real_arm(work: Path, name: str, rep: int, model: Path, dataset: Path, plugin: Path, steps: int,
                 threads: int, flags: list[str], env_extra: dict | None = None) -> dict:
    """One `scripts/train_grpo.sh cpu` run on the real model; per-step rows from logging.jsonl and the peak RSS."""
    out = work / f"{name}_{rep}"
    env = dict(os.environ, MODEL=str(model), DATASET=str(dataset), OUT_DIR=str(out), PLUGIN=str(plugin),
               MAX_STEPS=str(steps), SAVE_STEPS=str(10 * steps), OMP_NUM_THREADS=str(threads), **(env_extra or {}))
    exports = " ".join(f"{k}={v}" for k, v in REAL_ENV.items())
    cmd = (f"source {ROOT}/configs/runs/tiny_cpu.env && export {exports} && {ROOT}/scripts/train_grpo.sh cpu "
           f"--dataset_shuffle false --save_only_model true {' '.join(flags)}")
    rss_file = work / f"{name}_{rep}.maxrss"
    proc = subprocess.run([sys.executable, "-c", MAXRSS_WRAPPER, str(rss_file), "bash", "-c", cmd], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{name} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    run_dir = next(out.glob("v*-*"))
    rows = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "step_time" in r]
    settings = run_dir / "bt_reward_settings.json"  # written by PairGRPOTrainer only
    path = json.loads(settings.read_text())["old_logps_forward"] if settings.is_file() else "run (stock trainer)"
    res = {"step_s": [float(r["step_time"]) for r in rows], "loss": [r.get("loss") for r in rows],
           "grad_norm": [r.get("grad_norm") for r in rows], "maxrss_gib": int(rss_file.read_text()) / 2**20,
           "old_logps_forward": path}
    print(f"{name} rep {rep}: {len(rows)} steps, median step {statistics.median(res['step_s'][1:]):.2f}s, "
          f"peak RSS {res['maxrss_gib']:.2f} GiB, old-log-prob forward {path}, losses {res['loss']}", file=sys.stderr)
    return res


def shortest_pairs(path: Path, n: int) -> None:
    """Keep the n pairs with the shortest prompts (file order kept), so a step fits a busy 2-core machine."""
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    size: dict = {}
    for r in rows:
        size[r["pair_id"]] = max(size.get(r["pair_id"], 0), len(json.dumps(r["messages"])))
    keep = set(sorted(size, key=size.get)[:n])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["pair_id"] in keep))


def real_mode(args) -> dict:
    from grpo_bt_rm.smollm2 import ensure_model

    model = Path(ensure_model())
    if args.steps < 2:
        sys.exit("--real needs --steps >= 2 (the first step is dropped)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = work / "train.jsonl"
        subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh",
                        "--split", "test", "--data_files", str(args.data_files), "--prompt", "hh_score100_v1",
                        "--add_meta", "--limit", "200", "--out", str(dataset)], check=True, capture_output=True)
        shortest_pairs(dataset, args.pairs)
        pair_plugin = ROOT / "src/grpo_bt_rm/training/plugin.py"
        if args.study == "presets":
            runs: dict[str, list[dict]] = {name: [] for name in PRESET_VARIANTS}
            for rep in range(args.repeats):
                for name, flags in PRESET_VARIANTS.items():
                    runs[name].append(run_real_arm(work, name, rep, model, dataset, pair_plugin, args.steps,
                                                   args.threads, flags))
            return {name: {"median_step_s": statistics.median(s for r in rs for s in r["step_s"][1:]),
                           "peak_rss_gib": max(r["maxrss_gib"] for r in rs)} for name, rs in runs.items()}
        stock_plugin = work / "stock_plugin.py"
        stock_plugin.write_text(STOCK_PLUGIN)
        # dropout would make the stock old-log-prob forward differ (another mask); no checkpointing (small model)
        flags = ["--lora_dropout", "0", "--gradient_checkpointing", "false"]
        runs = {"stock": [], "pair": []}
        for rep in range(args.repeats):
            for name, plugin in (("stock", stock_plugin), ("pair", pair_plugin)):
                runs[name].append(run_real_arm(work, name, rep, model, dataset, plugin, args.steps, args.threads,
                                               flags))
    same = all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
               for s, p in zip(runs["stock"], runs["pair"]) for key in ("loss", "grad_norm")
               for a, b in zip(s[key], p[key]))
    med = {k: statistics.median(t for r in rs for t in r["step_s"][1:]) for k, rs in runs.items()}
    return {"steps_per_run": args.steps, "repeats": args.repeats, "threads": args.threads,
            "stock_median_step_s": med["stock"], "pair_median_step_s": med["pair"],
            "ratio_pair_over_stock": med["pair"] / med["stock"], "target_ratio": 0.8,
            "losses_and_grad_norms_equal": same,
            "stock_losses": [r["loss"] for r in runs["stock"]], "pair_losses": [r["loss"] for r in runs["pair"]],
            "stock_grad_norms": [r["grad_norm"] for r in runs["stock"]],
            "pair_grad_norms": [r["grad_norm"] for r in runs["pair"]],
            "old_logps_forward": {k: sorted({r["old_logps_forward"] for r in rs}) for k, rs in runs.items()},
            "peak_rss_gib": {k: max(r["maxrss_gib"] for r in rs) for k, rs in runs.items()},
            "load_average": os.getloadavg()}


def hook_cost_s(completions: int = 16, k: int = 4, reps: int = 2000) -> dict:
    """In-process cost of what PairGRPOTrainer adds per generation round (single process: gather is a no-op),
    and of its sampler vs trl's RepeatSampler per emitted index. Stable under machine load, unlike step times."""
    import time

    import torch
    from trl.trainer.grpo_trainer import RepeatSampler

    from grpo_bt_rm.rewards import STAT_KEYS, BTRewardSettings, bt_rewards, summarize
    from grpo_bt_rm.training.advantages import apply_pair_weights
    from grpo_bt_rm.training.sampler import PairRepeatSampler

    pairs = completions // (2 * k)
    out = bt_rewards("bt_pointwise_baseline", [f"<s>{i * 7 % 100}</s>" for i in range(completions)],
                     pair_id=[i // (2 * k) for i in range(completions)],
                     side=[(i // k) % 2 for i in range(completions)], preferred_side=[0] * completions,
                     settings=BTRewardSettings(parser="score100_first", delta_temp=20))
    adv = torch.randn(completions)
    metrics: dict = {}
    t = time.perf_counter()
    for _ in range(reps):
        w = torch.tensor(out.weights, dtype=torch.float32)
        st = torch.tensor([out.stats[key] for key in STAT_KEYS], dtype=torch.float64)
        for key, value in summarize(dict(zip(STAT_KEYS, st.tolist()))).items():
            metrics.setdefault(key, []).append(value)
        apply_pair_weights(adv, w)
    hooks = (time.perf_counter() - t) / reps
    n = 20000
    ours = PairRepeatSampler([(2 * i, 2 * i + 1) for i in range(n)], mini_repeat_count=k, batch_size=2 * pairs,
                             seed=0)
    stock = RepeatSampler(list(range(2 * n)), mini_repeat_count=k, batch_size=2 * pairs, seed=0)
    t = time.perf_counter()
    n_ours = sum(1 for _ in ours)
    t_ours = (time.perf_counter() - t) / n_ours
    t = time.perf_counter()
    n_stock = sum(1 for _ in stock)
    t_stock = (time.perf_counter() - t) / n_stock
    return {"hooks_per_round_s": hooks, "sampler_per_index_s": t_ours, "stock_sampler_per_index_s": t_stock,
            "extra_per_step_s": hooks + (t_ours - t_stock) * completions}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=COUNT, default=20, help="optimizer steps per run (MAX_STEPS)")
    ap.add_argument("--repeats", type=COUNT, default=2, help="runs per arm, alternated")
    ap.add_argument("--model", help="tiny model dir (default: build + warm-start one in a temp dir)")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    ap.add_argument("--hooks_only", action="store_true", help="only the in-process hook/sampler cost (seconds)")
    ap.add_argument("--real", action="store_true", help="real model (SmolLM2-135M LoRA) instead of the tiny one")
    ap.add_argument("--study", choices=("trainer", "presets"), default="trainer",
                    help="with --real: stock vs pair trainer (default), or lora_dropout x gradient checkpointing")
    ap.add_argument("--pairs", type=COUNT, default=16, help="with --real: HH pairs in the training file")
    ap.add_argument("--threads", type=COUNT, default=1, help="with --real: OMP_NUM_THREADS of the runs")
    ap.add_argument("--data_files", default=str(REAL_HH), help="with --real: raw HH file")
    args = ap.parse_args(argv)
    if args.real:
        load_before = os.getloadavg()
        result = {"command": " ".join(["bench/bench_trainer.py", *(argv if argv is not None else sys.argv[1:])]),
                  "load_average_before": load_before, **real_mode(args)}
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return 0
    hooks = hook_cost_s()
    if args.hooks_only:
        print(json.dumps(hooks, indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.model:
            model = Path(args.model)
        else:
            from grpo_bt_rm.testing.tiny import build_tiny, warm_start_tags

            model = warm_start_tags(build_tiny(work / "tiny"), work / "tiny_warm")
        dataset = work / "train.jsonl"
        subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh",
                        "--split", "sample", "--data_files", str(ROOT / "src/grpo_bt_rm/data/samples/hh_sample.jsonl"),
                        "--prompt", "hh_score100_v1", "--add_meta", "--out", str(dataset)], check=True,
                       capture_output=True)
        stock_plugin = work / "stock_plugin.py"
        stock_plugin.write_text(STOCK_PLUGIN)
        pair_plugin = ROOT / "src/grpo_bt_rm/training/plugin.py"
        times: dict[str, list[float]] = {"stock": [], "pair": []}
        for rep in range(args.repeats):
            for name, plugin in (("stock", stock_plugin), ("pair", pair_plugin)):
                times[name] += run_arm(work, name, model, dataset, plugin, args.steps, rep)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"steps_per_run": args.steps, "repeats": args.repeats,
              "stock_median_step_s": med["stock"], "pair_median_step_s": med["pair"],
              "stock_steps_per_s": 1 / med["stock"], "pair_steps_per_s": 1 / med["pair"],
              "overhead_ratio_pair_over_stock": med["pair"] / med["stock"], **hooks,
              "extra_fraction_of_stock_step": hooks["extra_per_step_s"] / med["stock"]}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
