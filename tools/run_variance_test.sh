#!/usr/bin/env bash
# Variance diagnostics of a judge prompt, one shard per device, merged at the end (same code as a single run).
#
#   tools/run_variance_test.sh --gpus "0 1" --out_dir /tmp/var -- --run_dir RUN --checkpoint base \
#       --prompt score100_v1 --parser score100_first --split validation --n_pairs 50 --n_samples 8 \
#       --batch_pairs 8 --max_new_tokens 64 --temperature 0.7 --range_thresholds 10,20,30,40 --unc_low 20 --unc_high 80
#   tools/run_variance_test.sh --gpus cpu -- --model MODEL_DIR --checkpoint base --template qwen2_5 ...
#
# Own flags (before `--`): --gpus (GPU ids or 'cpu'; default: $CUDA_VISIBLE_DEVICES or cpu), --out_dir (default
# $GRPO_BT_RM_BASE_DIR/variance/<time>). Everything after `--` goes to `python -m grpo_bt_rm.eval.variance`.
# Writes OUT/shard<i>.{json,jsonl,log} and OUT/merged.{json,log,hist.png}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"

gpus="${CUDA_VISIBLE_DEVICES:-cpu}"
[ -n "$gpus" ] || gpus=cpu
out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) gpus="$2"; shift 2 ;;
    --out_dir) out_dir="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) break ;;  # no `--`: everything is a variance flag
  esac
done
out_dir="${out_dir:-${GRPO_BT_RM_BASE_DIR:-$HOME/.cache/grpo_bt_rm}/variance/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out_dir"

# metric flags the merge must repeat
parser="" ; thresholds="" ; unc=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --parser) parser="${args[$((i + 1))]}" ;;
    --range_thresholds) thresholds="${args[$((i + 1))]}" ;;
    --unc_low|--unc_high) unc+=("${args[$i]}" "${args[$((i + 1))]}") ;;
  esac
done
if [ -z "$parser" ]; then
  prompt="score100_v1"
  for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--prompt" ] && prompt="${args[$((i + 1))]}"; done
  parser=$("$GBR_PY" -c "import sys; from grpo_bt_rm.prompts import get_prompt; print(get_prompt(sys.argv[1]).parser)" "$prompt")
fi

if [ "$gpus" = "cpu" ]; then
  devs=("")
  gbr_offline
else
  IFS=', ' read -r -a devs <<<"$gpus"
fi
n=${#devs[@]}
pids=()
for ((i = 0; i < n; i++)); do
  CUDA_VISIBLE_DEVICES="${devs[$i]}" "$GBR_PY" -m grpo_bt_rm.eval.variance "$@" --shard_id "$i" --num_shards "$n" \
    --save_jsonl "$out_dir/shard$i.jsonl" --out_json "$out_dir/shard$i.json" --no_plot \
    >"$out_dir/shard$i.run.log" 2>&1 &
  pids+=($!)
done
fail=0
for ((i = 0; i < n; i++)); do
  if ! wait "${pids[$i]}"; then echo "error: shard $i failed, see $out_dir/shard$i.run.log" >&2; fail=1; fi
done
[ "$fail" = 0 ] || exit 1

merge=("$GBR_ROOT/tools/merge_variance_shards.py" --parser "$parser" --out_json "$out_dir/merged.json")
[ -n "$thresholds" ] && merge+=(--range_thresholds "$thresholds")
"$GBR_PY" "${merge[@]}" "${unc[@]}" "$out_dir"/shard*.jsonl
