"""grpo_bt_rm: generative Bradley-Terry reward models trained with GRPO on stock ms-swift."""
__version__ = "0.1.0"
