#!/usr/bin/env bash
# Scalar Bradley-Terry reward model (value head, loss -log sigmoid(r_chosen - r_rejected [- margin])) trained by
# ms-swift's own `swift rlhf --rlhf_type rm`: the baseline the generative BT judge is compared with.
#
#   python -m grpo_bt_rm.data.rm --dataset anthropic_hh --split train --out rm.jsonl [--weights DENSITY_DIR]
#   bash scripts/train_rm.sh <gpu_list|cpu> <rm.jsonl> <output_dir> [swift flags...]
#   source configs/runs/rm_cpu_tiny.env && bash scripts/train_rm.sh cpu "$DATASET" "$OUT_DIR"
#
# Env knobs (defaults in brackets): MODEL [Qwen/Qwen2.5-7B-Instruct], MODEL_TYPE [auto; e.g. qwen2, llama],
# TUNER_TYPE [lora | full], LORA_RANK [16], LORA_ALPHA [32], LORA_DROPOUT [0], LEARNING_RATE [1e-4],
# NUM_TRAIN_EPOCHS [1], MAX_STEPS [unset = epochs], PER_DEVICE_TRAIN_BS [4 pairs], GRAD_ACC_STEPS [4],
# MAX_LENGTH [2048], SAVE_STEPS [200], SAVE_TOTAL_LIMIT [2], LOGGING_STEPS [10], SEED [42], REPORT_TO [none],
# TEMPLATE / SYSTEM [scripts/_common.sh], EXTRA_ARGS [extra `swift rlhf` flags, word-split],
# NPROC_PER_NODE [number of GPUs listed]; multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT.
# BT_PAIR_SAMPLING [uniform | weighted: pairs drawn with replacement in proportion to the rows' density_weight].
# Margin: rows with a `margin` column (data.rm --margin) train with ms-swift's margin loss; nothing to set here.
# Flags after <output_dir> go to `swift rlhf` last (they win). Before ms-swift starts,
# grpo_bt_rm.training.rm_preflight checks the command line, the environment and the dataset file.
# The checkpoint (LoRA adapter + value head `score`, or a full *ForSequenceClassification model) lands in
# <output_dir>/v<N>-<time>/checkpoint-<step>; its path is printed and written to <output_dir>/last_checkpoint.txt.
# Score it with: python -m grpo_bt_rm.eval.eval_bt --scorer scalar --checkpoint "$(cat <output_dir>/last_checkpoint.txt)" ...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"

[ $# -ge 3 ] || gbr_die "usage: train_rm.sh <gpu_list|cpu> <rm.jsonl> <output_dir> [swift flags...]"
devices="$1"; data="$2"; out="$3"
shift 3
[ -s "$data" ] || gbr_die "dataset '$data' does not exist or is empty (python -m grpo_bt_rm.data.rm --out ...)"
gbr_devices "$devices"
gbr_export_nodes

: "${MODEL:=Qwen/Qwen2.5-7B-Instruct}"
: "${TUNER_TYPE:=lora}"
: "${LORA_RANK:=16}"
: "${LORA_ALPHA:=32}"
: "${LORA_DROPOUT:=0}"
: "${LEARNING_RATE:=1e-4}"
: "${NUM_TRAIN_EPOCHS:=1}"
: "${PER_DEVICE_TRAIN_BS:=4}"
: "${GRAD_ACC_STEPS:=4}"
: "${MAX_LENGTH:=2048}"
: "${SAVE_STEPS:=200}"
: "${SAVE_TOTAL_LIMIT:=2}"
: "${LOGGING_STEPS:=10}"
: "${SEED:=42}"
: "${REPORT_TO:=none}"
: "${BT_PAIR_SAMPLING:=uniform}"
export BT_PAIR_SAMPLING
gbr_require_count PER_DEVICE_TRAIN_BS GRAD_ACC_STEPS MAX_LENGTH LORA_RANK LORA_ALPHA SAVE_STEPS SAVE_TOTAL_LIMIT \
  LOGGING_STEPS
gbr_require_positive LEARNING_RATE NUM_TRAIN_EPOCHS
[ -z "${MAX_STEPS:-}" ] || gbr_require_count MAX_STEPS

ARGS=(rlhf --rlhf_type rm
  --model "$MODEL" --dataset "$data" --output_dir "$out"
  --external_plugins "$GBR_ROOT/src/grpo_bt_rm/training/rm_plugin.py"
  --template "$TEMPLATE" --system "$SYSTEM" --tuner_type "$TUNER_TYPE"
  --learning_rate "$LEARNING_RATE" --num_train_epochs "$NUM_TRAIN_EPOCHS"
  --per_device_train_batch_size "$PER_DEVICE_TRAIN_BS" --gradient_accumulation_steps "$GRAD_ACC_STEPS"
  --max_length "$MAX_LENGTH" --save_steps "$SAVE_STEPS" --save_total_limit "$SAVE_TOTAL_LIMIT"
  --logging_steps "$LOGGING_STEPS" --seed "$SEED" --report_to "$REPORT_TO" --dataset_num_proc 1)
[ "$TUNER_TYPE" = "lora" ] && ARGS+=(--lora_rank "$LORA_RANK" --lora_alpha "$LORA_ALPHA"
  --lora_dropout "$LORA_DROPOUT" --target_modules all-linear)
[ -n "${MODEL_TYPE:-}" ] && ARGS+=(--model_type "$MODEL_TYPE")
[ -n "${MAX_STEPS:-}" ] && ARGS+=(--max_steps "$MAX_STEPS")
# weighted sampling reads density_weight from the loaded rows: keep the columns ms-swift would drop
[ "$BT_PAIR_SAMPLING" = "weighted" ] && ARGS+=(--remove_unused_columns false --lazy_tokenize true)
# shellcheck disable=SC2206  # EXTRA_ARGS is word-split on purpose; pass-through flags last: they win
ARGS+=("${GBR_DEVICE_ARGS[@]}" ${EXTRA_ARGS:-} "$@")

"$GBR_PY" -m grpo_bt_rm.training.rm_preflight "${ARGS[@]}" || gbr_die "train_rm.sh: fix the settings above"

gbr_show_config train_rm.sh MODEL MODEL_TYPE TEMPLATE SYSTEM TUNER_TYPE LORA_RANK LORA_ALPHA LORA_DROPOUT \
  LEARNING_RATE NUM_TRAIN_EPOCHS MAX_STEPS PER_DEVICE_TRAIN_BS GRAD_ACC_STEPS MAX_LENGTH SAVE_STEPS LOGGING_STEPS SEED \
  BT_PAIR_SAMPLING CUDA_VISIBLE_DEVICES NPROC_PER_NODE EXTRA_ARGS

mkdir -p "$out"
swift "${ARGS[@]}"

# the highest step of the newest run, by number (never by mtime)
ckpt=$("$GBR_PY" -m grpo_bt_rm.runs latest-checkpoint "$out") \
  || gbr_die "swift rlhf finished but no checkpoint was found under $out"
tmp=$(mktemp "$out/.last_checkpoint.XXXXXX")
echo "$ckpt" > "$tmp" && mv -f "$tmp" "$out/last_checkpoint.txt"
echo "reward model: $ckpt"
