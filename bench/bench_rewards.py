"""Reward throughput: completions/s through the ORM adapter vs. a minimal parse + baseline-formula loop.

    .venv/bin/python bench/bench_rewards.py [--calls 200 --pairs 64 --gens 8 --fail_frac 0.1 --repeats 5]

Each call holds pairs x 2 sides x gens score-first completions (1,024 by default). Both paths are timed in the
same process, interleaved, best of --repeats; the ratio adapter/minimal is the figure (target >= 0.9).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

from grpo_bt_rm.argtypes import COUNT, float_in
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.rewards import BTRewardSettings


def make_call(rng: random.Random, pairs: int, gens: int, fail_frac: float):
    completions, pair_id, side, pref = [], [], [], []
    for p in range(pairs):
        preferred = rng.randint(0, 1)
        for s in (0, 1):
            for _ in range(gens):
                body = " The response answers the question directly, is polite and mostly accurate, but it could " \
                       "give a concrete example and say what to avoid."
                completions.append(body if rng.random() < fail_frac else f"<s>{rng.randint(0, 100)}</s>{body}")
                pair_id.append(f"hh:train:{p}")
                side.append(s)
                pref.append(preferred)
    return completions, {"pair_id": pair_id, "side": side, "preferred_side": pref}


def minimal_loop(completions, pair_id, side, preferred_side, parse, T, C, fail, tie):
    """Only what any implementation must do: parse, side means per pair, the clipped log-sigmoid formula."""
    scores = [parse(c) for c in completions]
    acc: dict = {}
    for pid, s, z in zip(pair_id, side, scores):
        if z is not None:
            a = acc.setdefault((pid, s), [0.0, 0])
            a[0] += z
            a[1] += 1
    out = []
    for pid, s, p, z in zip(pair_id, side, preferred_side, scores):
        if z is None:
            out.append(fail)
            continue
        other = acc.get((pid, 1 - s))
        if other is None:
            out.append(tie)
            continue
        other_mean = other[0] / other[1]
        x = min((z - other_mean) / T if s == p else (other_mean - z) / T, C)
        out.append(-math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=COUNT, default=200, help="reward calls per timed round")
    ap.add_argument("--pairs", type=COUNT, default=64, help="pairs per call")
    ap.add_argument("--gens", type=COUNT, default=8, help="completions per side of a pair (num_generations)")
    ap.add_argument("--fail_frac", type=float_in(0, 1), default=0.1,
                    help="fraction of completions without a score tag")
    ap.add_argument("--repeats", type=COUNT, default=5, help="timed rounds per path; the best is reported")
    ap.add_argument("--variant", default="bt_pointwise_baseline", help="reward name to time through the adapter")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    args = ap.parse_args(argv)

    os.environ.update(BT_SCORE_PARSER="score100_first", BT_DELTA_TEMP="20", BT_DELTA_CLIP="10")
    os.environ.pop("BT_REWARD_DUMP", None)
    from grpo_bt_rm.training.orm import ORM_CLASSES  # imports ms-swift

    orm = ORM_CLASSES[args.variant](args=None)
    settings = BTRewardSettings.from_env()
    parse = get_parser("score100_first").parse
    fail, tie = settings.fail_reward("score100_first"), settings.tie_reward
    rng = random.Random(0)
    calls = [make_call(rng, args.pairs, args.gens, args.fail_frac) for _ in range(8)]
    if args.variant == "bt_pointwise_density":
        for _, cols in calls:
            cols["density_weight"] = [1.0 + hash(p) % 3 for p in cols["pair_id"]]
    n_per_call = len(calls[0][0])

    base_cols = {k: calls[0][1][k] for k in ("pair_id", "side", "preferred_side")}
    a, b = orm(calls[0][0], **calls[0][1]), minimal_loop(calls[0][0], **base_cols, parse=parse, T=20, C=10,
                                                          fail=fail, tie=tie)
    if args.variant != "bt_pointwise_pair_shared":  # every other variant has the baseline rewards
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-12, "adapter and minimal loop disagree"

    best = {"adapter": math.inf, "minimal": math.inf}
    for _ in range(args.repeats):
        for name in ("minimal", "adapter"):
            t = time.perf_counter()
            for i in range(args.calls):
                c, cols = calls[i % len(calls)]
                if name == "adapter":
                    orm(c, **cols)
                else:
                    minimal_loop(c, cols["pair_id"], cols["side"], cols["preferred_side"], parse=parse, T=20, C=10,
                                 fail=fail, tie=tie)
            best[name] = min(best[name], time.perf_counter() - t)
    total = args.calls * n_per_call
    result = {
        "completions_per_call": n_per_call, "calls": args.calls, "variant": args.variant,
        "adapter_completions_per_s": total / best["adapter"], "minimal_completions_per_s": total / best["minimal"],
    }
    result["ratio_adapter_over_minimal"] = result["adapter_completions_per_s"] / result["minimal_completions_per_s"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
