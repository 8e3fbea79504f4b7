"""Test doubles: a local mock teacher API, its batch endpoints, and a tiny random-weight Qwen2 factory.

    python -m grpo_bt_rm.testing.mock_server --port 8765      # a fake provider API answering every prompt
    python -m grpo_bt_rm.testing.tiny --out /tmp/tiny          # a tiny Qwen2 + local tokenizer

The library never imports this package (tests/repo checks it); only tests, benchmarks and `demo/` do.
"""
