#!/usr/bin/env python
"""Upload an eval summary (table, plot, CSV/MD/JSON files) to W&B; WANDB_MODE=offline writes a local run.

    WANDB_PROJECT=my-project python tools/wandb_log_eval_summary.py RUN/eval [--wandb_name NAME]

Same code as `python -m grpo_bt_rm.eval.summary RUN/eval --wandb`: the summary files are rewritten first.
"""

import sys

from grpo_bt_rm.eval.summary import main

if __name__ == "__main__":
    sys.exit(main(force_wandb=True))
