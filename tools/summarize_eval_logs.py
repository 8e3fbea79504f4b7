#!/usr/bin/env python
"""Summarize a directory of eval_bt JSON results into summary.csv / summary.md / summary.png.

    python tools/summarize_eval_logs.py RUN/eval [--out_dir D] [--title T] [--no_plot]

Reads the structured JSON results only (the name is kept from the reference tool, which scraped logs).
"""

import sys

from grpo_bt_rm.eval.summary import main

if __name__ == "__main__":
    sys.exit(main())
