#!/usr/bin/env bash
# Placeholder demo until the full CPU pipeline lands: build a pointwise dataset from the bundled HH sample.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="${PY:-$root/.venv/bin/python}"
out="outputs/demo"
mkdir -p "$out"
"$PY" -m grpo_bt_rm.data.build_dataset --dataset anthropic_hh --split sample \
  --data_files src/grpo_bt_rm/data/samples/hh_sample.jsonl --prompt hh_score100_v1 --add_meta \
  --out "$out/hh_sample_pointwise.jsonl"
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({k: m[k] for k in ('pairs','rows','dropped','sha256')}, indent=2))" "$out/hh_sample_pointwise.jsonl.manifest.json"
