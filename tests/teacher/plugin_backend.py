"""A backend registered from outside the teacher package, as `--plugin tests.teacher.plugin_backend` loads it."""

from grpo_bt_rm.teacher import BackendSpec, Completion, register_backend
from grpo_bt_rm.teacher.backends import BACKENDS

CALLS: list[tuple[str | None, str]] = []


class EchoLengthBackend:
    """Scores a reply by its length in characters (capped at 100); needs no key and no network."""

    def __init__(self, cfg):
        self.cfg = cfg

    async def complete(self, system, user, *, max_tokens, temperature):
        CALLS.append((self.cfg.base_url, user))
        reply = user.split("ASSISTANT REPLY:\n", 1)[1].split("\n\n", 1)[0]
        return Completion(f"<s>{min(100, len(reply))}</s>\nLength-based.", 10, 3)

    async def aclose(self):
        pass


if "echo_len" not in BACKENDS:
    register_backend(BackendSpec("echo_len", EchoLengthBackend, key_envs=(), needs_key=False))
