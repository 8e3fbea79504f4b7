#!/usr/bin/env bash
# Shared by the launchers (train_grpo.sh, train_sft.sh, train_rm.sh, merge_lora.sh, run_eval_sweep.sh, demo.sh,
# demo_real.sh, tools/run_variance_test.sh): source, don't run.
# Resolves the repo root and Python, and turns a device argument (`0,1` or `cpu`) into ms-swift settings.

GBR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GBR_ROOT

# Prefer the repo's venv unless one is already active.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$GBR_ROOT/.venv/bin/python" ]; then
  export PATH="$GBR_ROOT/.venv/bin:$PATH"
fi
GBR_PY="${PYTHON:-python}"

# One template and system prompt for SFT, GRPO and eval (eval reads them back from the run's args.json).
# Without --system, ms-swift's qwen2_5 template injects its own default system prompt.
: "${TEMPLATE:=qwen2_5}"
: "${SYSTEM:=You are a careful, impartial judge of response quality.}"
export TEMPLATE SYSTEM

gbr_die() { echo "error: $*" >&2; exit 2; }

# gbr_require_scoring: SCORING must be one of eval_bt's --scoring readouts (grpo_bt_rm.eval.expected_score.SCORINGS).
gbr_require_scoring() {
  [[ "${SCORING:-}" == text || "${SCORING:-}" == expected ]] || gbr_die "SCORING=${SCORING:-}: expected text or expected"
}

# gbr_require_count VAR...: each variable must be a whole number >= 1 (else a clear error naming it, exit 2).
gbr_require_count() {
  local v
  for v in "$@"; do
    [[ "${!v:-}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || gbr_die "$v=${!v:-}: expected an integer >= 1"
  done
}

# gbr_require_positive VAR...: each variable must be a number > 0 (1e-4, 2, 0.5).
gbr_require_positive() {
  local v
  for v in "$@"; do
    awk -v x="${!v:-}" 'BEGIN { exit !(x ~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ && x + 0 > 0) }' \
      || gbr_die "$v=${!v:-}: expected a number > 0"
  done
}

# gbr_help_if_asked <script> "$@": on -h/--help anywhere in the arguments, print the script's header comment (its
# usage and variables) and exit 0 without running anything.
gbr_help_if_asked() {
  local script="$1" a
  shift
  for a in "$@"; do
    if [ "$a" = "-h" ] || [ "$a" = "--help" ]; then
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$script"
      exit 0
    fi
  done
}

# gbr_export_nodes: export the multi-node variables that are set (ms-swift passes them to torchrun).
gbr_export_nodes() {
  local v
  for v in NNODES NODE_RANK MASTER_ADDR MASTER_PORT; do
    if [ -n "${!v:-}" ]; then export "${v?}"; fi
  done
}

# gbr_show_config <title> VAR...: print each variable's value, then the swift command line in ARGS.
gbr_show_config() {
  local title="$1" v
  shift
  echo "== $title resolved configuration =="
  for v in "$@"; do printf '  %-20s %s\n' "$v" "${!v:-}"; done
  echo "  command: swift ${ARGS[*]}"
  echo "=="
}

# gbr_offline [force]: the one place the launchers cut the HF stack (hub, transformers, datasets) off the network.
# Values the user already exported are kept; `force` sets them all to 1 (the demos must never reach the network).
gbr_offline() {
  if [ "${1:-}" = "force" ]; then
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
  else
    export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
    export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
  fi
}

# gbr_gpus_flag <default> "$@": sets GBR_GPUS to the value of a `--gpus X` / `--gpus=X` flag among the arguments
# (the last one wins), else <default>. For launchers that pass --gpus through to Python but must know it is `cpu`.
gbr_gpus_flag() {
  local prev="" arg
  GBR_GPUS="$1"
  shift
  for arg in "$@"; do
    if [ "$prev" = "--gpus" ]; then GBR_GPUS="$arg"; fi
    case "$arg" in --gpus=*) GBR_GPUS="${arg#--gpus=}" ;; esac
    prev="$arg"
  done
}

# gbr_devices <gpu_list|cpu>: sets GBR_DEVICE_ARGS (array) and exports CUDA_VISIBLE_DEVICES / NPROC_PER_NODE.
gbr_devices() {
  local spec="${1:-}"
  [ -n "$spec" ] || gbr_die "first argument must be a GPU list like 0,1 or 'cpu'"
  GBR_DEVICE_ARGS=()
  if [ "$spec" = "cpu" ]; then
    export CUDA_VISIBLE_DEVICES=""
    gbr_offline
    export NPROC_PER_NODE="${NPROC_PER_NODE:-1}"
    GBR_DEVICE_ARGS+=(--use_cpu true --check_model false --dataloader_num_workers 0 --dataloader_pin_memory false)
    if [ "$NPROC_PER_NODE" -gt 1 ]; then
      GBR_DEVICE_ARGS+=(--ddp_backend gloo)
    fi
  else
    [[ "$spec" =~ ^[0-9]+(,[0-9]+)*$ ]] || gbr_die "device list '$spec' is not like 0 or 0,1,2 (or 'cpu')"
    export CUDA_VISIBLE_DEVICES="$spec"
    local n
    n=$(awk -F, '{print NF}' <<<"$spec")
    export NPROC_PER_NODE="${NPROC_PER_NODE:-$n}"
  fi
}

# gbr_split_raw <raw .jsonl[.gz]> <out_dir> <n_train> <n_test>: disjoint raw files for the real-data benches
# (bench/grpo_real.sh, bench/rm_real.sh): the first n_train rows -> out_dir/train.jsonl, the last n_test rows ->
# out_dir/test.jsonl. Stops (naming the file) when the two would overlap.
gbr_split_raw() {
  local src="$1" out="$2" n_train="$3" n_test="$4" total
  mkdir -p "$out"
  zcat -f "$src" > "$out/all.jsonl"
  total=$(wc -l < "$out/all.jsonl")
  [ $((n_train + n_test)) -le "$total" ] || gbr_die "N_TRAIN + N_TEST = $((n_train + n_test)) > $total rows in $src"
  head -n "$n_train" "$out/all.jsonl" > "$out/train.jsonl"
  tail -n "$n_test" "$out/all.jsonl" > "$out/test.jsonl"
}

# gbr_demo_setting <demo_dir> <VAR> <default>: the value VAR had in that demo (its settings.env, written by
# scripts/demo.sh), or <default> for a demo from before VAR was recorded. The benches that re-score a demo's models
# use it so they ask with the demo's own prompt and answer length.
gbr_demo_setting() {
  local f="$1/settings.env" line
  [ -f "$f" ] || gbr_die "$f not found (not a scripts/demo.sh output directory)"
  line="$(grep -m1 "^$2=" "$f" || true)"
  if [ -z "$line" ]; then echo "$3"; else eval "printf '%s\n' ${line#*=}"; fi
}

# gbr_drop_preset_leftovers: unset what a preset sourced earlier in the user's shell left behind (the variables
# still at the value it set), as sourcing any preset does (configs/runs/_preset.sh). For launchers that set
# variables and then source a preset themselves: otherwise a value of theirs that equals a leftover would be
# dropped by that preset and replaced by its default.
gbr_drop_preset_leftovers() {
  # shellcheck disable=SC1091
  source "$GBR_ROOT/configs/runs/_preset.sh"
  unset _GBR_PRESET_BEFORE
}

# gbr_preset_settings <preset> "<VAR...>" ["<SKIP...>"]: settings.env lines (VAR=value, shell-quoted, sorted) of the
# given variables, of every variable the preset sets (found by sourcing it in an empty environment, so the set of
# names does not depend on what the user happens to have exported) and of every exported BT_* variable (the reward
# reads them all, the preset's or the user's), as the preset resolves them against the current environment (the
# user's value, else the preset's default), skipping SKIP; the preset is sourced in subshells.
# A record of the resolved value, not of an empty "the preset's default", makes a changed preset default a changed
# setting, so a run made under the old default is not reused as a run of the new one.
gbr_preset_settings() {
  local names
  # shellcheck disable=SC2016
  names="$(env -i HOME="${HOME:-/}" PATH="$PATH" bash -c 'source "$1" >/dev/null 2>&1; echo "${GBR_PRESET_OWNED:-}"' _ "$1")"
  (
    # shellcheck disable=SC1090
    source "$1" >/dev/null
    local v
    for v in $( { tr ' ' '\n' <<<"$2 $names"; compgen -e | grep '^BT_' || true; } | LC_ALL=C sort -u); do
      [[ " ${3:-} " == *" $v "* ]] || printf '%s=%q\n' "$v" "${!v:-}"
    done
  )
}

# gbr_changed_settings <recorded settings.env> "<settings lines>": the names (space-separated) of the settings whose
# line differs, either way: one only recorded, one only given, or the two with different values.
gbr_changed_settings() {
  { grep -vxF -f "$1" <<<"$2"; grep -vxF -f <(printf '%s\n' "$2") "$1"; } | cut -d= -f1 | awk '!seen[$0]++' \
    | tr '\n' ' ' || true
}

# gbr_prompt_parser <prompt>: the registered prompt's parser name (what the GRPO reward should read its answers
# with; scripts/demo.sh and bench/demo_variants.sh pass it as BT_SCORE_PARSER).
gbr_prompt_parser() {
  "$GBR_PY" -c 'import sys; from grpo_bt_rm.prompts import get_prompt; print(get_prompt(sys.argv[1]).parser)' "$1"
}

# gbr_cpu_isa: resolve CPU_ISA (auto, the default: avx2 where /proc/cpuinfo lists AVX2, else native) and export
# CPU_ISA with the CPU-kernel pins it stands for. avx2 pins PyTorch (ATEN_CPU_CAPABILITY), oneDNN
# (ONEDNN_MAX_CPU_ISA) and MKL (MKL_CBWR, its conditional numerical reproducibility mode, which MKL honours on Intel
# CPUs only) to their AVX2 code paths, so that x86 machines with and without AVX-512 run the same kernels; native
# unsets them (the machine's own kernels). Kernels for different instruction sets round differently, and a sampled
# GRPO run diverges from the first differing bit (docs/demo.md "Reproducibility"). scripts/demo.sh and the benches
# that train from a demo use it; the resolved value belongs in their settings.env (gbr_cpu_isa_setting).
gbr_cpu_isa() {
  local has_avx2=0
  if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then has_avx2=1; fi
  : "${CPU_ISA:=auto}"
  if [ "$CPU_ISA" = auto ]; then
    if [ "$has_avx2" = 1 ]; then CPU_ISA=avx2; else CPU_ISA=native; fi
  fi
  case "$CPU_ISA" in
    native) unset ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA MKL_CBWR ;;
    avx2)
      [ "$has_avx2" = 1 ] || gbr_die "CPU_ISA=avx2: this CPU has no AVX2 (/proc/cpuinfo); use CPU_ISA=native," \
        "whose figures can differ from the documented ones"
      export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 ;;
    *) gbr_die "CPU_ISA=$CPU_ISA: expected auto, avx2 (PyTorch, oneDNN and MKL on their AVX2 code paths) or native" ;;
  esac
  export CPU_ISA
}

# gbr_cpu_isa_setting: the resolved CPU_ISA as a settings.env line. native prints nothing: every demo from before
# CPU_ISA existed ran the machine's own kernels, so it stays reusable as CPU_ISA=native.
gbr_cpu_isa_setting() {
  if [ "$CPU_ISA" != native ]; then printf 'CPU_ISA=%q\n' "$CPU_ISA"; fi
}
