#!/usr/bin/env bash
# valread.sh DEMO: SFT and final GRPO on the val split, text + expected readouts of the same completions
set -euo pipefail
D=$1; cd /work/main; PY=.venv/bin/python
PROMPT=$(grep ^PROMPT= $D/settings.env | cut -d= -f2)
mkdir -p $D/valread
for ck in $D/models/sft $D/grpo/checkpoint-600; do
  n=$(basename $ck)
  [ -f $D/valread/$n.text.json ] || OMP_NUM_THREADS=1 $PY -m grpo_bt_rm.eval.eval_bt --run_dir $D/grpo --checkpoint $ck \
    --dataset pairs_jsonl --split val --data_files $D/raw/val.jsonl --n_pairs 0 --prompt $PROMPT --bt_temp 20 \
    --max_new_tokens 24 --out_json $D/valread/$n.text.json --save_completions $D/valread/$n.completions.jsonl --no_plot >/dev/null 2>&1
  $PY -m grpo_bt_rm.eval.eval_bt --from_completions $D/valread/$n.completions.jsonl --scoring expected \
    --out_json $D/valread/$n.expected.json --no_plot --bt_temp 20 >/dev/null 2>&1
done
$PY - $D <<'PY'
import json,sys
d=sys.argv[1]
for sc in ("text","expected"):
    m={n:json.load(open(f"{d}/valread/{n}.{sc}.json"))["metrics"] for n in ("sft","checkpoint-600")}
    s,g=m["sft"],m["checkpoint-600"]
    print(f"{d} val {sc}: SFT {s['acc_all']:.3f} (ties {s['tie_rate']:.2f}) GRPO {g['acc_all']:.3f} (ties {g['tie_rate']:.2f}, fail {g['parse_fail_rate']:.3f}, fallbacks {g.get('expected_fallbacks')}) gain {100*(g['acc_all']-s['acc_all']):+.1f}")
PY
