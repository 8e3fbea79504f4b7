#!/usr/bin/env python
"""Score preference pairs with a teacher API; a thin wrapper over `python -m grpo_bt_rm.teacher.generate`.

    python scripts/teacher_generate.py --backend anthropic --model claude-sonnet-4-20250514 --n_pairs 1000 --resume
"""

import sys

from grpo_bt_rm.teacher.generate import main

if __name__ == "__main__":
    sys.exit(main())
