"""ms-swift integration: BT reward ORM adapters, PairRepeatSampler, PairGRPOTrainer, the plugin entry point.

    import grpo_bt_rm.training.swift_plugin   # registers rewards + trainer (imports ms-swift)

Only `settings`, `sampler` and `advantages` are importable without ms-swift.
"""
