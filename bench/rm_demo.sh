#!/usr/bin/env bash
# Scalar BT reward model on the demo task (issue 16): the demo's splits (demo.task, DATA_SEED 0), its tiny model
# shape and seeds, trained on the 2,000 train pairs with their gold labels, scored on the same 500 test pairs as
# the demo's eval sweep. One row per seed; the SFT and BT-GRPO columns come from scripts/demo.sh.
#
#   bash bench/rm_demo.sh                 # SEEDS="0 1 2", EPOCHS=2
#
# Env knobs (defaults): SEEDS ("0 1 2"), OUT (outputs/rm_demo), EPOCHS (2), LEARNING_RATE (1e-3), BS (16),
# MODEL_ARGS (the demo's: --hidden 128 --layers 4 --intermediate 256 --vocab 1024), N_TRAIN/N_VAL/N_TEST (2000/250/500).
# Writes OUT/raw (the splits), OUT/s<SEED>/{model,rm,eval/rm.json}, OUT/times.tsv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
cd "$GBR_ROOT"
: "${SEEDS:=0 1 2}" "${OUT:=outputs/rm_demo}" "${EPOCHS:=2}" "${BS:=16}" "${LR:=1e-3}"
: "${N_TRAIN:=2000}" "${N_VAL:=250}" "${N_TEST:=500}"
: "${MODEL_ARGS:=--hidden 128 --layers 4 --intermediate 256 --vocab 1024}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
touch "$OUT/times.tsv"
timed() { local n="$1" t0; shift; t0=$(date +%s); "$@"; printf '%s\t%s\n' "$n" "$(( $(date +%s) - t0 ))" >> "$OUT/times.tsv"; }

"$GBR_PY" -m grpo_bt_rm.demo.task --out "$OUT/raw" --n_train "$N_TRAIN" --n_val "$N_VAL" --n_test "$N_TEST" --seed 0
for SEED in $SEEDS; do
  S="$OUT/s$SEED"
  mkdir -p "$S/eval"
  # shellcheck disable=SC2086  # MODEL_ARGS is word-split on purpose
  "$GBR_PY" -m grpo_bt_rm.testing.tiny --out "$S/model" $MODEL_ARGS --seed "$SEED" --corpus "$OUT/raw/corpus.txt"
  "$GBR_PY" -m grpo_bt_rm.data.rm --dataset pairs_jsonl --split train --data_files "$OUT/raw/train.jsonl" \
    --shuffle --seed "$SEED" --out "$S/rm_train.jsonl"
  rm -rf "$S/rm"
  # shellcheck disable=SC1091
  timed "train_s$SEED" bash -c "source configs/runs/rm_cpu_tiny.env && MODEL='$S/model' SEED=$SEED \
    MAX_STEPS=$(( (N_TRAIN / BS) * EPOCHS )) SAVE_STEPS=$(( (N_TRAIN / BS) * EPOCHS )) PER_DEVICE_TRAIN_BS=$BS LEARNING_RATE=$LR LOGGING_STEPS=25 \
    bash scripts/train_rm.sh cpu '$S/rm_train.jsonl' '$S/rm' --lr_scheduler_type cosine --warmup_ratio 0.05 \
    --torch_dtype float32 --save_only_model true"
  timed "eval_s$SEED" "$GBR_PY" -m grpo_bt_rm.eval.eval_bt --scorer scalar --checkpoint "$(cat "$S/rm/last_checkpoint.txt")" \
    --dataset pairs_jsonl --split test --data_files "$OUT/raw/test.jsonl" --n_pairs "$N_TEST" --seed 0 \
    --out_json "$S/eval/rm.json"
done
echo "[rm-demo] done: $OUT/s*/eval/rm.json, $OUT/times.tsv"
