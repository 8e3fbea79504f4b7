"""Teacher pipeline: score preference pairs with a strong API model, then turn its judgements into SFT data.

    python -m grpo_bt_rm.teacher.generate --help     # resumable, concurrent teacher scoring
    python -m grpo_bt_rm.teacher.sft_data --help     # teacher records -> ms-swift SFT JSONL
"""

from grpo_bt_rm.teacher.backends import (
    BACKENDS,
    BackendConfig,
    BackendSpec,
    Completion,
    FatalError,
    TransientError,
    register_backend,
)

__all__ = ["BACKENDS", "BackendConfig", "BackendSpec", "Completion", "FatalError", "TransientError",
           "register_backend"]
