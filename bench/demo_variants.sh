#!/usr/bin/env bash
# The reward-variant comparison on the demo task (issue 15 §3): every GRPO reward variant trained with the same
# budget (configs/runs/demo_cpu_<variant>.env on configs/runs/demo_cpu.env: 450 steps since round 10, 4 generations,
# 2 pairs/step; the round-8 table in docs/bench_demo.md ran 600 steps, the round-6 one MAX_STEPS=300 SAVE_STEPS=100)
# from each seed's SFT warm-up and GRPO data, then the final checkpoint scored greedily on the validation (250) and
# test (500) pairs.
#
#   SEEDS="0 1 2" bash scripts/demo.sh               # first: one finished demo per seed (outputs/demo_seeds/seed<N>)
#   bash bench/demo_variants.sh                      # then: 7 variants x 3 seeds, 2 jobs at a time (~40 min here)
#
# Env knobs (defaults): DEMOS (outputs/demo_seeds), SEEDS (0 1 2), VARIANTS (baseline pair_shared hardmine binary
# graded graded_hardpair hard_margin), JOBS (2 parallel single-threaded jobs), OUT (outputs/demo_variants).
# Writes OUT/<variant>.s<seed>.{val,test}.json (+ .completions.jsonl), OUT/logs/, and prints OUT/table.md
# (mean ± std over seeds; per-kind accuracy from grpo_bt_rm.demo.breakdown; then per seed the test gain over the
# seed's SFT judge from its demo's summary.json, and the seeds meeting the §1 target). Choose on val, report test. Each run
# uses its demo's CPU kernels (CPU_ISA in the demo's settings.env; native for a demo from before it was recorded).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
cd "$GBR_ROOT"
: "${DEMOS:=outputs/demo_seeds}" "${SEEDS:=0 1 2}" "${JOBS:=2}" "${OUT:=outputs/demo_variants}"
: "${VARIANTS:=baseline pair_shared hardmine binary graded graded_hardpair hard_margin}"
gbr_require_count JOBS
gbr_drop_preset_leftovers  # a preset sourced earlier in this shell must not drop the values set below
gbr_offline force
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled GBR_ROOT GBR_PY OUT DEMOS
for s in $SEEDS; do
  [ -d "$DEMOS/seed$s/models/sft" ] || gbr_die "$DEMOS/seed$s/models/sft missing: run SEEDS=\"$SEEDS\" bash scripts/demo.sh first"
done
for v in $VARIANTS; do [ -f "configs/runs/demo_cpu_$v.env" ] || gbr_die "VARIANTS: no preset configs/runs/demo_cpu_$v.env"; done
mkdir -p "$OUT/logs"

one() {  # <seed> <variant> <port>: GRPO from the seed's SFT model, then greedy eval of the final checkpoint
  local s=$1 v=$2 d="$DEMOS/seed$1" run="$OUT/runs/$2/s$1" sp prompt max_new
  prompt="$(gbr_demo_setting "$d" PROMPT generic_score100_brief)"
  max_new="$(gbr_demo_setting "$d" MAX_NEW_TOKENS 12)"
  # The demo's own CPU kernels (a demo from before CPU_ISA was recorded ran the machine's own: native).
  CPU_ISA="$(gbr_demo_setting "$d" CPU_ISA native)"
  gbr_cpu_isa
  rm -rf "$run"
  ( # the demo's own answer length and its prompt's parser (as scripts/demo.sh's GRPO stage sets them)
    export MAX_COMPLETION_LENGTH="$max_new" BT_SCORE_PARSER
    BT_SCORE_PARSER="$(gbr_prompt_parser "$prompt")"
    source "configs/runs/demo_cpu_$v.env"
    export MODEL="$d/models/sft" DATASET="$d/grpo_data/train.jsonl" OUT_DIR="$run" SEED="$s" MASTER_PORT="$3"
    export EXTRA_ARGS="--torch_dtype float32 --add_version false --save_only_model true --gradient_checkpointing false"
    bash scripts/train_grpo.sh cpu ) > "$OUT/logs/$v.s$s.train.log" 2>&1 || { echo "$v seed $s: training failed"; return 1; }
  local ck; ck="$(cd "$run" && ls -d checkpoint-* | sort -t- -k2 -n | tail -n 1)"
  for sp in val test; do
    "$GBR_PY" -m grpo_bt_rm.eval.eval_bt --run_dir "$run" --checkpoint "$ck" --dataset pairs_jsonl --split "$sp" \
      --data_files "$d/raw/$sp.jsonl" --n_pairs 0 --prompt "$prompt" --bt_temp 20 --max_new_tokens "$max_new" \
      --out_json "$OUT/$v.s$s.$sp.json" --save_completions "$OUT/$v.s$s.$sp.completions.jsonl" --no_plot \
      > "$OUT/logs/$v.s$s.$sp.eval.log" 2>&1 || { echo "$v seed $s: $sp eval failed"; return 1; }
  done
  echo "$v seed $s done"
}
export -f one gbr_demo_setting gbr_die gbr_prompt_parser gbr_cpu_isa
i=0
for s in $SEEDS; do for v in $VARIANTS; do i=$((i + 1)); echo "$s $v $((29600 + i))"; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'one "$0" "$1" "$2"'
"$GBR_PY" bench/demo_variants_table.py --out "$OUT" --demos "$DEMOS" --seeds $SEEDS --variants $VARIANTS \
  | tee "$OUT/table.md"
