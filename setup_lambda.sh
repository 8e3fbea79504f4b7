#!/usr/bin/env bash
# Bootstrap a CUDA GPU box (e.g. a Lambda instance): venv + pinned snapshot + this package, then smoke checks.
#
#   bash setup_lambda.sh            # venv at ./.venv, caches under $GRPO_BT_RM_BASE_DIR (~/.cache/grpo_bt_rm)
#   VENV=/persistent/venv GRPO_BT_RM_BASE_DIR=/persistent/grpo_bt_rm bash setup_lambda.sh
#
# Installs requirements.lambda.txt (torch CUDA build + vllm + ms-swift==4.6.0 from PyPI, no fork) and this repo
# in editable mode without re-resolving dependencies. Needs Python 3.11/3.12 and an NVIDIA driver for CUDA 12.8+.
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-$root/.venv}"
PYTHON="${PYTHON:-python3}"
export GRPO_BT_RM_BASE_DIR="${GRPO_BT_RM_BASE_DIR:-$HOME/.cache/grpo_bt_rm}"

command -v nvidia-smi >/dev/null || echo "warning: nvidia-smi not found; this script targets CUDA machines" >&2

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -U pip wheel setuptools
"$VENV/bin/python" -m pip install -r "$root/requirements.lambda.txt"
"$VENV/bin/python" -m pip install --no-deps -e "$root"

mkdir -p "$GRPO_BT_RM_BASE_DIR/hf_home/datasets"
if [ ! -f "$root/.env" ]; then
  cp "$root/.env.example" "$root/.env"
  echo "created $root/.env from .env.example: edit GRPO_BT_RM_BASE_DIR / W&B settings there"
fi

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import torch

print("torch", torch.__version__, "cuda available:", torch.cuda.is_available(), "devices:", torch.cuda.device_count())
for pkg in ("ms-swift", "transformers", "trl", "peft", "vllm"):
    print(pkg, md.version(pkg))
assert md.version("ms-swift") == "4.6.0", "ms-swift must be exactly 4.6.0 (our plugins hook its internals)"
import grpo_bt_rm.training.swift_plugin  # noqa: F401  registers rewards + PairGRPOTrainer on stock ms-swift

print("grpo_bt_rm plugin import OK")
PY
echo "done. Next: source setup_env.sh && source configs/runs/<preset>.env && bash scripts/train_grpo.sh 0,1"
