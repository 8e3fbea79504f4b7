#!/usr/bin/env bash
# LoRA SFT warm-up of the judge on teacher data (from build_sft_data.py), with the same template and system
# prompt as GRPO and eval.
#
#   bash scripts/train_sft.sh <gpu_list|cpu> <dataset_jsonl> <output_dir>
#   MODEL=Qwen/Qwen2.5-7B-Instruct NUM_EPOCHS=2 bash scripts/train_sft.sh 0,1 sft.jsonl runs/sft_v1
#
# Env knobs (defaults in brackets): MODEL [Qwen/Qwen2.5-7B-Instruct], MODEL_TYPE [auto; e.g. qwen2],
# LEARNING_RATE [1e-4], NUM_EPOCHS [2], PER_DEVICE_TRAIN_BS [1], GRAD_ACC_STEPS [8], MAX_LENGTH [2048],
# LORA_RANK [16], LORA_ALPHA [32], SAVE_STEPS [200], REPORT_TO [none], TEMPLATE / SYSTEM [scripts/_common.sh],
# EXTRA_ARGS [extra `swift sft` flags, word-split], NPROC_PER_NODE [number of GPUs listed].
# The adapter lands in <output_dir>/v<N>-<time>/checkpoint-<step>; its path is printed at the end and written
# to <output_dir>/last_checkpoint.txt, which merge_lora.sh also accepts via <output_dir>.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"

[ $# -eq 3 ] || gbr_die "usage: train_sft.sh <gpu_list|cpu> <dataset_jsonl> <output_dir>"
devices="$1"; data="$2"; out="$3"
[ -s "$data" ] || gbr_die "dataset '$data' does not exist or is empty"
gbr_devices "$devices"

: "${MODEL:=Qwen/Qwen2.5-7B-Instruct}"
: "${LEARNING_RATE:=1e-4}"
: "${NUM_EPOCHS:=2}"
: "${PER_DEVICE_TRAIN_BS:=1}"
: "${GRAD_ACC_STEPS:=8}"
: "${MAX_LENGTH:=2048}"
: "${LORA_RANK:=16}"
: "${LORA_ALPHA:=32}"
: "${SAVE_STEPS:=200}"
: "${REPORT_TO:=none}"
: "${EXTRA_ARGS:=}"
gbr_require_count PER_DEVICE_TRAIN_BS GRAD_ACC_STEPS MAX_LENGTH LORA_RANK LORA_ALPHA SAVE_STEPS
gbr_require_positive LEARNING_RATE NUM_EPOCHS

type_args=()
[ -n "${MODEL_TYPE:-}" ] && type_args=(--model_type "$MODEL_TYPE")
# shellcheck disable=SC2206  # EXTRA_ARGS is word-split on purpose
extra=(${EXTRA_ARGS})

mkdir -p "$out"
set -x
swift sft \
  --model "$MODEL" "${type_args[@]}" \
  --template "$TEMPLATE" --system "$SYSTEM" \
  --dataset "$data" \
  --tuner_type lora --lora_rank "$LORA_RANK" --lora_alpha "$LORA_ALPHA" --target_modules all-linear \
  --learning_rate "$LEARNING_RATE" --num_train_epochs "$NUM_EPOCHS" \
  --per_device_train_batch_size "$PER_DEVICE_TRAIN_BS" --gradient_accumulation_steps "$GRAD_ACC_STEPS" \
  --max_length "$MAX_LENGTH" --save_steps "$SAVE_STEPS" --save_total_limit 2 --logging_steps 5 \
  --report_to "$REPORT_TO" --output_dir "$out" \
  "${GBR_DEVICE_ARGS[@]}" "${extra[@]}"
set +x

# the highest step of the newest run, by number (never by mtime)
ckpt=$("$GBR_PY" -m grpo_bt_rm.runs latest-checkpoint "$out") \
  || gbr_die "swift sft finished but no checkpoint was found under $out"
tmp=$(mktemp "$out/.last_checkpoint.XXXXXX")
echo "$ckpt" > "$tmp" && mv -f "$tmp" "$out/last_checkpoint.txt"
echo "adapter: $ckpt"
