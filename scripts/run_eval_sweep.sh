#!/usr/bin/env bash
# Evaluate checkpoints x seeds over a pool of GPUs (or the CPU), resumably, then write summary.csv/md/png
# (and upload to W&B when WANDB_PROJECT is set). Thin launcher over `python -m grpo_bt_rm.eval.sweep`.
#
#   scripts/run_eval_sweep.sh --run_dir RUN --ckpts "base checkpoint-100 /abs/sft_merged" --seeds "0 1" \
#     --gpus cpu --n_pairs 200 --prompt hh_score100_v1 --bt_temp 20 --dataset pairs_jsonl --data_files x.jsonl
#
# Flags it owns: --run_dir --eval_subdir --out_dir --ckpts --seeds --gpus --cpu_workers --save_completions
# --title --no_wandb; every other flag goes to eval_bt (see `python -m grpo_bt_rm.eval.eval_bt --help`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
    exec "$GBR_PY" -m grpo_bt_rm.eval.sweep --help
  fi
done

# With --gpus cpu (or no --gpus) nothing may reach the network: set the offline flags the way the trainers get them.
gbr_gpus_flag cpu "$@"
if [ "$GBR_GPUS" = "cpu" ]; then
  export CUDA_VISIBLE_DEVICES=""
  gbr_offline
fi

exec "$GBR_PY" -m grpo_bt_rm.eval.sweep "$@"
