"""Every default path derives from one base directory: $GRPO_BT_RM_BASE_DIR or ~/.cache/grpo_bt_rm.

    from grpo_bt_rm.paths import base_dir; base_dir() / "teacher_data"
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GRPO_BT_RM_BASE_DIR"


def base_dir() -> Path:
    """The project's base directory (not created here)."""
    raw = os.environ.get(ENV_VAR, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "grpo_bt_rm"


def default_path(*parts: str) -> Path:
    """`base_dir()` joined with `parts`: the default location of every output (nothing is created)."""
    return base_dir().joinpath(*parts)
