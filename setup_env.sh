#!/usr/bin/env bash
# Source me: `source setup_env.sh`. Activates .venv, loads .env (machine settings only), sets the HF caches
# from one base directory ($GRPO_BT_RM_BASE_DIR, default ~/.cache/grpo_bt_rm).
_gbr_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"

if [ -f "$_gbr_root/.venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  source "$_gbr_root/.venv/bin/activate"
else
  echo "setup_env.sh: no $_gbr_root/.venv yet; run 'make venv' (or setup_lambda.sh on a GPU box)" >&2
fi

if [ -f "$_gbr_root/.env" ]; then
  # Reward settings belong to the run presets (configs/runs/*.env), not to the machine file.
  _gbr_bt_keys="$(grep -oE '^[[:space:]]*(export[[:space:]]+)?BT_[A-Za-z0-9_]+' "$_gbr_root/.env" \
    | sed -E 's/^[[:space:]]*(export[[:space:]]+)?//' | tr '\n' ' ')"
  if [ -n "$_gbr_bt_keys" ]; then
    echo "setup_env.sh: WARNING: .env sets reward settings ($_gbr_bt_keys). Presets in configs/runs/ own BT_*;" \
      "remove them from .env or they will be overridden by whichever file is sourced last." >&2
  fi
  set -a
  # shellcheck disable=SC1091
  source "$_gbr_root/.env"
  set +a
fi

export GRPO_BT_RM_BASE_DIR="${GRPO_BT_RM_BASE_DIR:-$HOME/.cache/grpo_bt_rm}"
export HF_HOME="${HF_HOME:-$GRPO_BT_RM_BASE_DIR/hf_home}"
export HF_DATASETS_CACHE="${HF_DATASETS_CACHE:-$HF_HOME/datasets}"
unset TRANSFORMERS_CACHE  # deprecated; HF_HOME covers it
export GRPO_BT_RM_ROOT="$_gbr_root"
mkdir -p "$GRPO_BT_RM_BASE_DIR" "$HF_HOME" "$HF_DATASETS_CACHE"
unset _gbr_root _gbr_bt_keys
