"""Steps/s of PairGRPOTrainer vs. stock ms-swift GRPOTrainer on the same tiny CPU config (one run, ratio).

    .venv/bin/python bench/bench_trainer.py [--steps 20 --repeats 2 --model DIR]

Both arms go through scripts/train_grpo.sh with configs/runs/tiny_cpu.env and the same BT reward; the stock arm
uses a plugin that registers only the reward (so TRAINER_MAPPING['grpo'] stays ms-swift's GRPOTrainer and its
RepeatSampler). Arms alternate; the figure is the median per-step `step_time` from logging.jsonl (first step
dropped), and the overhead ratio pair/stock (target <= 1.03). Because step times on a shared CPU are noisy, it
also times in-process what the pair trainer adds per step (hooks + sampler) as a fraction of a stock step.
"""

from __future__ import annotations

import argparse
import json
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
    args = ap.parse_args(argv)
    hooks = hook_cost_s()
    if args.hooks_only:
        print(json.dumps(hooks, indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.model:
            model = Path(args.model)
        else:
            from grpo_bt_rm.tiny import build_tiny, warm_start_tags

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
