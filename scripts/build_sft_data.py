#!/usr/bin/env python
"""Teacher records -> ms-swift SFT JSONL; a thin wrapper over `python -m grpo_bt_rm.teacher.sft_data`.

    python scripts/build_sft_data.py --input_dirs 'teacher_data/score100_*' --output sft.jsonl \\
        --prompt hh_score100_v1 --filter_correct --include_both_sides
"""

import sys

from grpo_bt_rm.teacher.sft_data import main

if __name__ == "__main__":
    sys.exit(main())
