#!/usr/bin/env bash
# Gradient checkpointing on the demo judge: the demo's SFT and GRPO stages, each run twice side by side (two
# single-threaded processes at once, so both see the same load), with ms-swift's default
# --gradient_checkpointing true and with false. Prints each stage's train_runtime ratio (true / false) and
# whether the two runs wrote bit-identical weights (sha256 of model.safetensors).
#
#   make demo && bash bench/bench_checkpointing.sh          # ~2 minutes here
#
# Env knobs (defaults): DEMO (outputs/demo: a finished demo, whose SFT data, random and SFT models, GRPO data,
# SFT settings, prompt, answer length and CPU kernels are used; GRPO runs configs/runs/demo_cpu.env as it is now),
# SFT_STEPS (80), GRPO_STEPS (40), OUT (outputs/bench_checkpointing: emptied first, so it must be this bench's own
# directory). Relative paths are taken from the current directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
[ $# -eq 0 ] || gbr_die "usage: bash bench/bench_checkpointing.sh (settings are environment variables; --help lists them)"
: "${DEMO:=$GBR_ROOT/outputs/demo}" "${SFT_STEPS:=80}" "${GRPO_STEPS:=40}" "${OUT:=$GBR_ROOT/outputs/bench_checkpointing}"
gbr_require_count SFT_STEPS GRPO_STEPS
SFT_STEPS=$((10#$SFT_STEPS)) GRPO_STEPS=$((10#$GRPO_STEPS))  # 08 -> 8: the checkpoint's name
for f in sft/sft_data.jsonl models/random/config.json models/sft/config.json grpo_data/train.jsonl; do
  [ -e "$DEMO/$f" ] || gbr_die "DEMO=$DEMO: $f missing (run make demo, or point DEMO at a finished demo)"
done
DEMO="$(cd "$DEMO" && pwd)"
OUT="$(realpath -m "$OUT")"
case "$DEMO/" in "$OUT"/*) gbr_die "OUT=$OUT holds DEMO=$DEMO, and OUT is emptied first: give the bench its own OUT" ;; esac
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -f "$OUT/.bench_checkpointing" ]; then
  gbr_die "OUT=$OUT is not empty and was not written by this bench (no .bench_checkpointing); it is emptied first, so give another OUT"
fi
cd "$GBR_ROOT"
gbr_drop_preset_leftovers  # a preset sourced earlier in this shell must not drop the values set below
PROMPT="$(gbr_demo_setting "$DEMO" PROMPT generic_score100_brief)"
MAX_NEW="$(gbr_demo_setting "$DEMO" MAX_NEW_TOKENS 12)"
SEED="$(gbr_demo_setting "$DEMO" SEED 0)"
CPU_ISA="$(gbr_demo_setting "$DEMO" CPU_ISA native)"
gbr_cpu_isa
gbr_offline force
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled
BT_SCORE_PARSER="$(gbr_prompt_parser "$PROMPT")" || exit 1
export BT_SCORE_PARSER
SFT_LR="$(gbr_demo_setting "$DEMO" SFT_LR 1e-3)"
SFT_EPOCHS="$(gbr_demo_setting "$DEMO" SFT_EPOCHS 5)"
SFT_BS="$(gbr_demo_setting "$DEMO" SFT_BS 16)"
rm -rf "$OUT"; mkdir -p "$OUT"; touch "$OUT/.bench_checkpointing"

sft() {  # <gc true|false> <port>: the demo's SFT stage (scripts/demo.sh), cut to SFT_STEPS steps
  MODEL="$DEMO/models/random" MODEL_TYPE=qwen2 LEARNING_RATE="$SFT_LR" NUM_EPOCHS="$SFT_EPOCHS" PER_DEVICE_TRAIN_BS="$SFT_BS" \
    GRAD_ACC_STEPS=1 MAX_LENGTH=256 SAVE_STEPS=100000 MASTER_PORT="$2" \
    EXTRA_ARGS="--tuner_type full --seed $SEED --lr_scheduler_type cosine --warmup_ratio 0.05 --save_only_model true --save_strategy steps --save_steps $SFT_STEPS --max_steps $SFT_STEPS --torch_dtype float32 --split_dataset_ratio 0 --logging_steps 20 --gradient_checkpointing $1" \
    bash scripts/train_sft.sh cpu "$DEMO/sft/sft_data.jsonl" "$OUT/sft_gc_$1" > "$OUT/sft_gc_$1.log" 2>&1
}
grpo() {  # <gc true|false> <port>: the demo's GRPO stage (configs/runs/demo_cpu.env), cut to GRPO_STEPS steps
  ( export MAX_COMPLETION_LENGTH="$MAX_NEW"
    source configs/runs/demo_cpu.env
    export MODEL="$DEMO/models/sft" DATASET="$DEMO/grpo_data/train.jsonl" OUT_DIR="$OUT/grpo_gc_$1" SEED MASTER_PORT="$2"
    export MAX_STEPS="$GRPO_STEPS" SAVE_STEPS="$GRPO_STEPS"
    export EXTRA_ARGS="--torch_dtype float32 --add_version false --save_only_model true --gradient_checkpointing $1"
    bash scripts/train_grpo.sh cpu ) > "$OUT/grpo_gc_$1.log" 2>&1
}
runtime() { grep -o "'train_runtime': '[0-9.]*'" "$1" | tail -n 1 | grep -o "[0-9.]*" || gbr_die "no train_runtime in $1"; }
weights() {  # <run dir> <step>: sha256 of the checkpoint's weights
  local f; f="$(find "$1" -path "*checkpoint-$2/model.safetensors" | head -n 1)"
  [ -n "$f" ] || gbr_die "no checkpoint-$2/model.safetensors under $1"
  sha256sum "$f" | cut -d' ' -f1
}
pid=""
trap '[ -z "$pid" ] || kill -- "$pid" 2>/dev/null || true' EXIT

echo "| stage | steps | runtime, checkpointing on (s) | off (s) | on / off | weights identical |"
echo "|---|---|---|---|---|---|"
for stage in sft grpo; do
  steps=$SFT_STEPS; [ "$stage" = sft ] || steps=$GRPO_STEPS
  "$stage" true 29531 & pid=$!
  "$stage" false 29532 || gbr_die "$stage without checkpointing failed: $OUT/${stage}_gc_false.log"
  wait "$pid" || { pid=""; gbr_die "$stage with checkpointing failed: $OUT/${stage}_gc_true.log"; }
  pid=""
  on="$(runtime "$OUT/${stage}_gc_true.log")"; off="$(runtime "$OUT/${stage}_gc_false.log")"
  w_on="$(weights "$OUT/${stage}_gc_true" "$steps")"; w_off="$(weights "$OUT/${stage}_gc_false" "$steps")"
  same=no; [ "$w_on" = "$w_off" ] && same=yes
  awk -v s="$stage" -v n="$steps" -v a="$on" -v b="$off" -v w="$same" \
    'BEGIN { printf "| %s | %d | %.1f | %.1f | %.2f | %s |\n", s, n, a, b, a / b, w }'
done
