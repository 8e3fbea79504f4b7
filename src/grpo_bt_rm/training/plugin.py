"""The `--external_plugins` file for ms-swift (default PLUGIN of scripts/train_grpo.sh).

ms-swift imports this file under a generated module name; all it does is import the real plugin module, which
registers the BT rewards and PairGRPOTrainer.
"""

import grpo_bt_rm.training.swift_plugin  # noqa: F401
