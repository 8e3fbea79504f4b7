#!/usr/bin/env bash
# GRPO training of a generative BT judge on stock ms-swift 4.6.0 (pair-aware sampler + BT rewards via plugin).
#
#   source configs/runs/<preset>.env      # or set the variables below yourself
#   scripts/train_grpo.sh <gpu_list|cpu> [swift flags...]   # e.g. 0,1 (torchrun over the listed GPUs) or cpu
#
# Flags after the device go to `swift rlhf` last (after EXTRA_ARGS), so `cpu --max_steps 1` overrides MAX_STEPS.
# Required: DATASET (pointwise JSONL from grpo_bt_rm.data.build_dataset), OUT_DIR, MODEL.
# Optional (default): PLUGIN (src/grpo_bt_rm/training/plugin.py), REWARD_NAME (bt_pointwise_baseline),
#   NUM_GENERATIONS (8), GENERATION_BATCH_SIZE (unset = per-device bs x grad-acc x procs),
#   MAX_COMPLETION_LENGTH (256), TEMPERATURE (1.0), TOP_P (1.0), TOP_K (unset), PER_DEVICE_TRAIN_BS (16),
#   GRAD_ACC_STEPS (1), LEARNING_RATE (1e-6), MAX_STEPS (unset = epochs), NUM_TRAIN_EPOCHS (1), SAVE_STEPS (500),
#   LOGGING_STEPS (10), REPORT_TO (none), MODEL_TYPE, TEMPLATE (qwen2_5), SYSTEM, TUNER_TYPE (lora),
#   BETA (0.04), SEED (42), SCALE_REWARDS (group), MAX_LENGTH, SAVE_TOTAL_LIMIT,
#   USE_VLLM (false), VLLM_MODE (colocate), DEEPSPEED (e.g. zero2), NPROC_PER_NODE, EXTRA_ARGS (appended last),
#   RESPONSE_PREFIX (unset: the template's own; e.g. '<s>' so a base judge starts inside the score tag, or
#   '<think>\n\n</think>\n\n' to turn thinking off; passed to ms-swift --response_prefix, "\n" = newline).
# Multi-node (ms-swift's own torchrun launch): NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT, set on every node.
# Reward settings are BT_* variables (see docs/training.md). Before ms-swift starts, grpo_bt_rm.training.preflight
# checks the whole command line and environment (counts, the pair batch rule, reward names, the dataset file,
# MODEL present locally when offline, the multi-node variables, BT_*) and names each bad variable.
# Checkpoints: $OUT_DIR/v<N>-<timestamp>/checkpoint-<step>, plus bt_reward_settings.json in the same run dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
[ $# -ge 1 ] || gbr_die "usage: scripts/train_grpo.sh <gpu_list|cpu> [swift flags...]" \
  "  (source a configs/runs/*.env preset first; --help lists the variables)"
gbr_devices "$1"
shift
for v in NNODES NODE_RANK MASTER_ADDR MASTER_PORT; do  # ms-swift passes these to torchrun
  if [ -n "${!v:-}" ]; then export "${v?}"; fi
done

: "${DATASET:?set DATASET to a pointwise JSONL (python -m grpo_bt_rm.data.build_dataset)}"
: "${OUT_DIR:?set OUT_DIR (e.g. \$GRPO_BT_RM_BASE_DIR/runs/<name>)}"
: "${MODEL:?set MODEL (hub id or local directory)}"
[ -f "$DATASET" ] || gbr_die "DATASET=$DATASET does not exist"
: "${PLUGIN:=$GBR_ROOT/src/grpo_bt_rm/training/plugin.py}"
: "${REWARD_NAME:=bt_pointwise_baseline}"
export REWARD_NAME  # the preflight checks an explicit BT_PARSE_FAIL_REWARD against these rewards
: "${NUM_GENERATIONS:=8}"
: "${MAX_COMPLETION_LENGTH:=256}"
: "${TEMPERATURE:=1.0}"
: "${TOP_P:=1.0}"
: "${PER_DEVICE_TRAIN_BS:=16}"
: "${GRAD_ACC_STEPS:=1}"
: "${LEARNING_RATE:=1e-6}"
: "${NUM_TRAIN_EPOCHS:=1}"
: "${SAVE_STEPS:=500}"
: "${LOGGING_STEPS:=10}"
: "${REPORT_TO:=none}"
: "${TUNER_TYPE:=lora}"
: "${BETA:=0.04}"
: "${SEED:=42}"
: "${SCALE_REWARDS:=group}"
: "${USE_VLLM:=false}"
: "${VLLM_MODE:=colocate}"
[ -f "$PLUGIN" ] || gbr_die "PLUGIN=$PLUGIN does not exist"

ARGS=(rlhf --rlhf_type grpo
  --model "$MODEL" --dataset "$DATASET" --output_dir "$OUT_DIR"
  --external_plugins "$PLUGIN" --reward_funcs $REWARD_NAME
  --template "$TEMPLATE" --system "$SYSTEM" --tuner_type "$TUNER_TYPE"
  --num_generations "$NUM_GENERATIONS" --max_completion_length "$MAX_COMPLETION_LENGTH"
  --temperature "$TEMPERATURE" --top_p "$TOP_P"
  --per_device_train_batch_size "$PER_DEVICE_TRAIN_BS" --gradient_accumulation_steps "$GRAD_ACC_STEPS"
  --learning_rate "$LEARNING_RATE" --num_train_epochs "$NUM_TRAIN_EPOCHS"
  --save_steps "$SAVE_STEPS" --logging_steps "$LOGGING_STEPS" --report_to $REPORT_TO
  --beta "$BETA" --seed "$SEED" --scale_rewards "$SCALE_REWARDS"
  --use_vllm "$USE_VLLM" --dataset_num_proc 1)
[ -n "${MODEL_TYPE:-}" ] && ARGS+=(--model_type "$MODEL_TYPE")
[ -n "${TOP_K:-}" ] && ARGS+=(--top_k "$TOP_K")
[ -n "${RESPONSE_PREFIX:-}" ] && ARGS+=(--response_prefix "$RESPONSE_PREFIX")
[ -n "${MAX_STEPS:-}" ] && ARGS+=(--max_steps "$MAX_STEPS")
[ -n "${GENERATION_BATCH_SIZE:-}" ] && ARGS+=(--generation_batch_size "$GENERATION_BATCH_SIZE")
[ -n "${MAX_LENGTH:-}" ] && ARGS+=(--max_length "$MAX_LENGTH")
[ -n "${SAVE_TOTAL_LIMIT:-}" ] && ARGS+=(--save_total_limit "$SAVE_TOTAL_LIMIT")
[ "$USE_VLLM" = "true" ] && ARGS+=(--vllm_mode "$VLLM_MODE")
[ -n "${DEEPSPEED:-}" ] && ARGS+=(--deepspeed "$DEEPSPEED")
ARGS+=("${GBR_DEVICE_ARGS[@]}")
# shellcheck disable=SC2206
[ -n "${EXTRA_ARGS:-}" ] && ARGS+=($EXTRA_ARGS)
ARGS+=("$@")  # pass-through flags last: they win

# Fail fast (names each bad variable) before ms-swift spends its start-up time.
"$GBR_PY" -m grpo_bt_rm.training.preflight "${ARGS[@]}" || gbr_die "train_grpo.sh: fix the settings above"

echo "== train_grpo.sh resolved configuration =="
for v in DATASET OUT_DIR MODEL MODEL_TYPE TEMPLATE SYSTEM TUNER_TYPE PLUGIN REWARD_NAME NUM_GENERATIONS \
         GENERATION_BATCH_SIZE MAX_COMPLETION_LENGTH TEMPERATURE TOP_P TOP_K PER_DEVICE_TRAIN_BS GRAD_ACC_STEPS \
         RESPONSE_PREFIX LEARNING_RATE MAX_STEPS NUM_TRAIN_EPOCHS SAVE_STEPS LOGGING_STEPS REPORT_TO BETA SEED SCALE_REWARDS \
         USE_VLLM VLLM_MODE DEEPSPEED CUDA_VISIBLE_DEVICES NPROC_PER_NODE NNODES NODE_RANK MASTER_ADDR MASTER_PORT \
         EXTRA_ARGS; do
  printf '  %-22s %s\n' "$v" "${!v:-}"
done
env | grep -E '^BT_' | sort | sed 's/^/  /' || true
echo "  command: swift ${ARGS[*]}"
echo "=="

mkdir -p "$OUT_DIR"
exec swift "${ARGS[@]}"
