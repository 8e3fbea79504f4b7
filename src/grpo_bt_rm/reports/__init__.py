"""Reports that compare models from their saved completions (eval_bt --save_completions); no model is loaded.

    python -m grpo_bt_rm.reports.diversity --completions uniform=u.jsonl --completions density=d.jsonl --out_dir R
    python -m grpo_bt_rm.reports.regions --weights D --dataset test.jsonl --completions uniform=u.jsonl --out_dir R
"""
