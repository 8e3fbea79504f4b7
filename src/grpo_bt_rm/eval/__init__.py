"""Evaluation of judge checkpoints: eval_bt (accuracy, BT log-loss, calibration), variance, sweeps and summaries.

    python -m grpo_bt_rm.eval.eval_bt --help; python -m grpo_bt_rm.eval.variance --help
"""
