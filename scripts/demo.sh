#!/usr/bin/env bash
# The whole method on CPU in minutes: synthetic task -> noisy rule teacher -> SFT warm-up -> BT-GRPO -> eval sweep.
#
#   bash scripts/demo.sh          # (or `make demo`) reuses finished stages; FRESH=1 starts over
#   SEED=1 DEMO_DIR=outputs/demo_seed1 bash scripts/demo.sh
#   SEEDS="0 1 2" bash scripts/demo.sh   # one demo per seed under outputs/demo_seeds/seed<N>, then the seeds table
#
# Env knobs (defaults): DEMO_DIR (outputs/demo), SEED (0: SFT/GRPO seed and GRPO data order), DATA_SEED (0: the
# task's pairs), N_TRAIN (2000 training pairs), N_TEST (500 held-out pairs), N_SFT_PAIRS (2000 pairs sent to the
# teacher), SFT_EPOCHS (5), SFT_LR (1e-3), SFT_BS (16), SFT_DATA_ARGS ("--include_both_sides": every teacher judgement as it is; how
# scripts/build_sft_data.py turns the teacher's judgements into SFT rows), MAX_STEPS / SAVE_STEPS / LEARNING_RATE /
# BETA / BT_DELTA_TEMP ... (configs/runs/demo_cpu.env),
# MODEL_ARGS (tiny model shape), PRETRAIN_STEPS (0: steps of the tiny model's pre-training on the
# category facts, raw/facts.txt), PROMPT (generic_score100_check: one line of checking, then the score; the GRPO
# reward reads answers with the prompt's parser; generic_score100_brief for the score-only judge of rounds 1-4),
# MAX_NEW_TOKENS (24: the eval's and GRPO's answer length), SCORING (expected: how the eval reads each score, eval_bt's
# --scoring: the written score with its last digit replaced by the judge's expected digit; text: the score as
# written. Both readouts of the same completions are printed in the summary; changing it reruns only the eval
# stage), TRAIN_THREADS (2: torch threads of the SFT and GRPO stages, which run alone; 2 gave bit-identical weights
# to 1 and 1.3-1.5x faster stages, docs/bench_demo.md round 9), EVAL_WORKERS (2: parallel single-threaded eval jobs), FRESH (1 = delete DEMO_DIR
# first), TASK_ARGS (empty: extra flags for grpo_bt_rm.demo.task, e.g. "--train_category_weights animal=0.8,..."),
# STOP_AFTER (empty: a stage name, task tiny teacher sft_data sft grpo_data grpo or eval, to stop after; no summary),
# CPU_ISA (auto: avx2 where the CPU has AVX2, else native; avx2: PyTorch, oneDNN and MKL pinned to their AVX2 code
# paths, ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA / MKL_CBWR (MKL honours it on Intel CPUs only), so x86 machines
# with and without AVX-512 run the same kernels; native: the machine's own kernels. The same seed gives different figures
# under different kernels: docs/demo.md "Reproducibility". The resolved value is recorded in settings.env).
# The settings are recorded in DEMO_DIR/settings.env; a rerun with other settings stops (naming them)
# instead of reusing stages made with the old ones.
# Writes DEMO_DIR/summary.json (sft / grpo / per-checkpoint metrics, per failure kind, stage times, library versions),
# DEMO_DIR/summary.md,
# DEMO_DIR/demo_plot.png and the sweep's DEMO_DIR/grpo/eval/summary.{md,csv,png}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"
[ $# -eq 0 ] || gbr_die "usage: bash scripts/demo.sh (settings are environment variables; --help lists them)"
cd "$GBR_ROOT"
STAGES="task tiny teacher sft_data sft grpo_data grpo eval"
[ -z "${STOP_AFTER:-}" ] || [[ " $STAGES " == *" $STOP_AFTER "* ]] \
  || gbr_die "STOP_AFTER=$STOP_AFTER: expected one of the stages $STAGES"

# SEEDS="0 1 2": one full demo per seed in $DEMO_DIR/seed<N> (default outputs/demo_seeds), then the table over seeds
# (mean ± std of SFT and GRPO acc_all and the gain) printed and written to $DEMO_DIR/seeds_summary.{md,json}.
if [ -n "${SEEDS:-}" ]; then
  base="${DEMO_DIR:-outputs/demo_seeds}"
  dirs=()
  for s in $SEEDS; do
    [[ "$s" =~ ^[0-9]+$ ]] || gbr_die "SEEDS=$SEEDS: expected whole numbers separated by spaces"
    echo "[demo] ===== seed $s -> $base/seed$s ====="
    SEEDS="" SEED="$s" DEMO_DIR="$base/seed$s" bash "${BASH_SOURCE[0]}"
    dirs+=("$base/seed$s")
  done
  echo "[demo] ===== ${#dirs[@]} seeds ====="
  [ -n "${STOP_AFTER:-}" ] || "$GBR_PY" -m grpo_bt_rm.demo.breakdown --seeds "${dirs[@]}" --out "$base/seeds_summary"
  exit 0
fi

# A preset sourced earlier in the user's shell leaves its values behind; those still at the value it set are its,
# not the user's settings, and are dropped here, so the record below and every stage see the same environment.
gbr_drop_preset_leftovers

: "${DEMO_DIR:=outputs/demo}"
: "${SEED:=0}"
: "${DATA_SEED:=0}"
: "${N_TRAIN:=2000}"
: "${N_VAL:=250}"
: "${N_TEST:=500}"
: "${N_SFT_PAIRS:=2000}"
: "${SFT_EPOCHS:=5}"
: "${SFT_LR:=1e-3}"
: "${SFT_BS:=16}"
: "${SFT_DATA_ARGS:=--include_both_sides}"
: "${MODEL_ARGS:=--hidden 128 --layers 4 --intermediate 256 --vocab 1024}"
: "${PROMPT:=generic_score100_check}"
: "${PRETRAIN_STEPS:=0}"
: "${MAX_NEW_TOKENS:=24}"
: "${EVAL_WORKERS:=2}"
: "${SCORING:=expected}"
: "${TRAIN_THREADS:=2}"
[[ "$TRAIN_THREADS" =~ ^[1-9][0-9]*$ ]] || gbr_die "TRAIN_THREADS=$TRAIN_THREADS: expected a whole number >= 1"
gbr_require_scoring
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export TOKENIZERS_PARALLELISM=false WANDB_MODE="${WANDB_MODE:-disabled}"
gbr_cpu_isa
[ "$CPU_ISA" = avx2 ] || echo "[demo] CPU_ISA=native: this machine's own CPU kernels; figures can differ from the documented (AVX2) ones"
gbr_offline force

if [ "${FRESH:-0}" = "1" ]; then
  rm -rf "$DEMO_DIR"
fi
mkdir -p "$DEMO_DIR/.done" "$DEMO_DIR/logs"
D="$(cd "$DEMO_DIR" && pwd)"
TIMES="$D/stage_times.tsv"
touch "$TIMES"

# One DEMO_DIR holds one configuration: finished stages are reused only if they were made with these settings
# (else their results would be reported as this run's). A difference stops the demo and names the variables.
# The GRPO stage's settings are recorded as it will run them, configs/runs/demo_cpu.env resolved against what the
# user set (gbr_preset_settings), so a demo trained under an old preset default is another demo; GRPO_KNOBS adds
# the scripts/train_grpo.sh knobs the preset leaves to the user. BT_SCORE_PARSER and MAX_COMPLETION_LENGTH are left
# out (the GRPO stage derives them from PROMPT and MAX_NEW_TOKENS), and OMP_NUM_THREADS (recorded with the rest).
GRPO_KNOBS="MAX_STEPS SAVE_STEPS LEARNING_RATE BETA BT_DELTA_TEMP NUM_GENERATIONS PER_DEVICE_TRAIN_BS TEMPERATURE LOGGING_STEPS REWARD_NAME
  GENERATION_BATCH_SIZE SCALE_REWARDS TOP_K RESPONSE_PREFIX SAVE_TOTAL_LIMIT NUM_TRAIN_EPOCHS USE_VLLM VLLM_MODE DEEPSPEED PLUGIN"
demo_settings() {
  local v
  for v in SEED DATA_SEED N_TRAIN N_VAL N_TEST N_SFT_PAIRS SFT_EPOCHS SFT_LR SFT_BS SFT_DATA_ARGS MODEL_ARGS PRETRAIN_STEPS PROMPT MAX_NEW_TOKENS \
           EXTRA_ARGS TEMPLATE SYSTEM OMP_NUM_THREADS MKL_NUM_THREADS TRAIN_THREADS SCORING; do
    printf '%s=%q\n' "$v" "${!v:-}"
  done
  gbr_preset_settings configs/runs/demo_cpu.env "$GRPO_KNOBS" "BT_SCORE_PARSER MAX_COMPLETION_LENGTH OMP_NUM_THREADS"
  # Only when set, so a default demo's settings.env stays as it was; the check below compares both ways.
  if [ -n "${TASK_ARGS:-}" ]; then printf 'TASK_ARGS=%q\n' "$TASK_ARGS"; fi
  gbr_cpu_isa_setting  # a demo made under other kernels is another demo
}
settings="$(demo_settings)"
if [ -f "$D/settings.env" ]; then
  changed="$(gbr_changed_settings "$D/settings.env" "$settings")"
  # SCORING shapes only the eval stage (a demo from before it was recorded read the text): redo that stage; the
  # sweep moves the results read the other way to grpo/eval/stale/ and reuses nothing of theirs.
  if [[ " $changed " == *" SCORING "* ]]; then
    [ ! -f "$D/.done/eval" ] || echo "[demo] SCORING changed to $SCORING: the eval stage runs again"
    rm -f "$D/.done/eval"
    changed="${changed/SCORING /}"
  fi
  [ -z "$changed" ] \
    || gbr_die "$D holds a demo made with other settings (${changed% }); rerun with FRESH=1 or another DEMO_DIR"
elif [ -n "$(ls -A "$D/.done")" ]; then
  gbr_die "$D holds finished stages but no settings.env (a demo from before settings were recorded);" \
    "rerun with FRESH=1 or another DEMO_DIR"
fi
printf '%s\n' "$settings" > "$D/settings.env"

# stage <name> <command...>: run unless DEMO_DIR/.done/<name> exists; log to DEMO_DIR/logs/<name>.log; time it.
# After the stage named by STOP_AFTER (run now or done already) the demo ends there.
stage() {
  if [ -f "$D/.done/$1" ]; then
    echo "[demo] $1: done already (FRESH=1 to redo)"
  else
    run_stage "$@"
  fi
  if [ "$1" = "${STOP_AFTER:-}" ]; then
    echo "[demo] stopped after $1 (STOP_AFTER); total this call: $(( $(date +%s) - t_start ))s; outputs in $D"
    exit 0
  fi
}
run_stage() {
  local name="$1"; shift
  echo "[demo] $name ..."
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$@" >"$D/logs/$name.log" 2>&1; then
    echo "[demo] $name FAILED; last lines of $D/logs/$name.log:" >&2
    tail -n 30 "$D/logs/$name.log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  local dt
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  grep -v "^$name	" "$TIMES" > "$TIMES.tmp" || true
  printf '%s\t%s\n' "$name" "$dt" >> "$TIMES.tmp"
  mv "$TIMES.tmp" "$TIMES"
  touch "$D/.done/$name"
  echo "[demo] $name: ${dt}s"
}

task() {
  # shellcheck disable=SC2086  # TASK_ARGS is word-split on purpose
  "$GBR_PY" -m grpo_bt_rm.demo.task --out "$D/raw" --n_train "$N_TRAIN" --n_val "$N_VAL" --n_test "$N_TEST" \
    --seed "$DATA_SEED" ${TASK_ARGS:-}
}
tiny() {
  # shellcheck disable=SC2086  # MODEL_ARGS is word-split on purpose
  local pre=()
  # The facts also train the tokenizer then; without pre-training the model is exactly the earlier demos' one.
  [ "$PRETRAIN_STEPS" = 0 ] || pre=(--corpus "$D/raw/facts.txt" --pretrain "$D/raw/facts.txt" --pretrain_steps "$PRETRAIN_STEPS")
  "$GBR_PY" -m grpo_bt_rm.testing.tiny --out "$D/models/random" $MODEL_ARGS --seed "$SEED" --corpus "$D/raw/corpus.txt" \
    "${pre[@]}"
}
teacher() {
  rm -rf "$D/teacher"
  "$GBR_PY" scripts/teacher_generate.py --plugin grpo_bt_rm.demo.teacher --backend rule --model rule-v1 \
    --dataset pairs_jsonl --split train --data_files "$D/raw/train.jsonl" --prompt "$PROMPT" \
    --n_pairs "$N_SFT_PAIRS" --seed "$DATA_SEED" --output_dir "$D/teacher" --no_progress
}
sft_data() {
  # shellcheck disable=SC2086  # SFT_DATA_ARGS is word-split on purpose
  "$GBR_PY" scripts/build_sft_data.py --input_dirs "$D"/teacher/*/ --output "$D/sft/sft_data.jsonl" \
    --prompt "$PROMPT" $SFT_DATA_ARGS
}
sft() {
  # A full fine-tune: at this size LoRA on frozen random embeddings learns too slowly (see docs/demo.md). No
  # gradient checkpointing (ms-swift's default): a 0.7M-parameter model needs no activation memory saved, and
  # recomputing the forward pass made the SFT stage 1.29x slower for bit-identical weights (bench/bench_checkpointing.sh).
  rm -rf "$D/sft/run"
  MODEL="$D/models/random" MODEL_TYPE=qwen2 LEARNING_RATE="$SFT_LR" NUM_EPOCHS="$SFT_EPOCHS" \
    PER_DEVICE_TRAIN_BS="$SFT_BS" GRAD_ACC_STEPS=1 MAX_LENGTH=256 SAVE_STEPS=100000 \
    EXTRA_ARGS="--tuner_type full --seed $SEED --lr_scheduler_type cosine --warmup_ratio 0.05 --save_only_model true --save_strategy epoch --torch_dtype float32 --split_dataset_ratio 0 --logging_steps 20 --gradient_checkpointing false" \
    OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS" \
    bash scripts/train_sft.sh cpu "$D/sft/sft_data.jsonl" "$D/sft/run" || return 1
  local ckpt
  ckpt="$(cat "$D/sft/run/last_checkpoint.txt")"
  [ -f "$ckpt/config.json" ] || { echo "no full model in $ckpt" >&2; return 1; }
  rm -f "$D/models/sft"
  ln -s "$ckpt" "$D/models/sft"
}
grpo_data() {
  "$GBR_PY" -m grpo_bt_rm.data.build_dataset --dataset pairs_jsonl --split train --data_files "$D/raw/train.jsonl" \
    --prompt "$PROMPT" --add_meta --shuffle --seed "$SEED" --out "$D/grpo_data/train.jsonl"
}
grpo() {
  rm -rf "$D/grpo"
  (
    # shellcheck disable=SC1091
    # The reward reads answers with the prompt's own parser, and GRPO samples as long answers as the eval reads.
    BT_SCORE_PARSER="$(gbr_prompt_parser "$PROMPT")"
    export BT_SCORE_PARSER MAX_COMPLETION_LENGTH="$MAX_NEW_TOKENS"
    export OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS"  # the preset keeps a value already set
    source configs/runs/demo_cpu.env
    export MODEL="$D/models/sft" DATASET="$D/grpo_data/train.jsonl" OUT_DIR="$D/grpo" SEED="$SEED"
    export EXTRA_ARGS="--torch_dtype float32 --add_version false --save_only_model true --gradient_checkpointing false ${EXTRA_ARGS:-}"
    bash scripts/train_grpo.sh cpu
  ) || return 1
  ls -d "$D"/grpo/checkpoint-* >/dev/null || { echo "GRPO wrote no checkpoint under $D/grpo" >&2; return 1; }
}
eval_sweep() {
  local ckpts="$D/models/random $D/models/sft"
  local c
  for c in $(cd "$D/grpo" && ls -d checkpoint-* | sort -t- -k2 -n); do ckpts="$ckpts $c"; done
  bash scripts/run_eval_sweep.sh --run_dir "$D/grpo" --ckpts "$ckpts" --seeds 0 --gpus cpu --cpu_workers "$EVAL_WORKERS" \
    --no_wandb --dataset pairs_jsonl --split test --data_files "$D/raw/test.jsonl" --n_pairs "$N_TEST" \
    --prompt "$PROMPT" --bt_temp 20 --max_new_tokens "$MAX_NEW_TOKENS" --title "demo (seed $SEED)" --save_completions \
    --scoring "$SCORING"
}
summary() {
  "$GBR_PY" -m grpo_bt_rm.demo.summary --demo_dir "$D" --eval_dir "$D/grpo/eval"
}

t_start=$(date +%s)
stage task task
stage tiny tiny
stage teacher teacher
stage sft_data sft_data
stage sft sft
stage grpo_data grpo_data
stage grpo grpo
stage eval eval_sweep
# The summary is cheap and always rebuilt, so it reflects the latest stage times.
summary
echo "[demo] total this call: $(( $(date +%s) - t_start ))s; results in $D/summary.json"
