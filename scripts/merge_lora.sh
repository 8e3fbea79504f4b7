#!/usr/bin/env bash
# Merge a LoRA adapter into its base model (`swift export --merge_lora true`) so GRPO and eval can load the
# result as a plain model directory.
#
#   bash scripts/merge_lora.sh <adapter_dir> <out_dir>
#
# <adapter_dir> is a checkpoint (holding adapter_config.json) or a train_sft.sh output directory (its
# last_checkpoint.txt, else the highest checkpoint-<step> of its newest vN run, is used). The base model and
# template come from the adapter's args.json. Env: MODEL_TYPE [from args.json], EXPORT_ARGS [extra
# `swift export` flags; EXTRA_ARGS, which train_sft.sh uses, is deliberately not read here].
# Note: `swift export` does not accept --check_model.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
gbr_help_if_asked "${BASH_SOURCE[0]}" "$@"

[ $# -eq 2 ] || gbr_die "usage: merge_lora.sh <adapter_dir> <out_dir>"
adapter="$1"; out="$2"
[ -d "$adapter" ] || gbr_die "adapter directory '$adapter' does not exist"
if [ ! -f "$adapter/adapter_config.json" ]; then
  if [ -f "$adapter/last_checkpoint.txt" ]; then
    adapter=$(cat "$adapter/last_checkpoint.txt")
  else  # the highest step of the newest run, by number (never by mtime: copied dirs have fresh mtimes)
    adapter=$("$GBR_PY" -m grpo_bt_rm.runs latest-checkpoint "$adapter") \
      || gbr_die "no LoRA adapter (adapter_config.json) in '$1' (see the line above)"
  fi
  [ -n "$adapter" ] && [ -f "$adapter/adapter_config.json" ] || gbr_die "no LoRA adapter (adapter_config.json) in '$1'"
  echo "adapter: $adapter" >&2
fi
[ -e "$out" ] && gbr_die "output '$out' already exists; remove it or choose another"

gbr_offline
[ -n "${CUDA_VISIBLE_DEVICES+x}" ] || export CUDA_VISIBLE_DEVICES=""
type_args=()
[ -n "${MODEL_TYPE:-}" ] && type_args=(--model_type "$MODEL_TYPE")
# shellcheck disable=SC2206
extra=(${EXPORT_ARGS:-})

set -x
swift export --adapters "$adapter" --merge_lora true --output_dir "$out" "${type_args[@]}" "${extra[@]}"
set +x
[ -f "$out/config.json" ] || gbr_die "swift export finished but $out/config.json is missing"
echo "merged model: $out"
