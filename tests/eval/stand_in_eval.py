"""eval_bt with the model faked: real argument handling, data loading, checkpoint resolution and result writing.

    python tests/eval/stand_in_eval.py <eval_bt flags>   # every completion is "<s>60</s>"; no model is loaded
    (its digits certain: the expected score is 60 too)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from grpo_bt_rm.eval import eval_bt, judge
from grpo_bt_rm.eval.engine import Generation
from grpo_bt_rm.eval.loading import (
    DTYPES,
    base_weights,
    checkpoint_fingerprint,
    resolve_checkpoint,
    resolve_run,
    run_for_checkpoint,
    template_settings,
)


class _Template:
    def encode(self, row):
        return {"input_ids": [1, 2, 3]}


class _Engine:
    digit_ids = list(range(10))  # records digit log-probabilities, as the transformers engine does
    _SURE = tuple(0.0 if d == 0 else float("-inf") for d in range(10))  # all mass on "0"

    def generate(self, ids, sampling, paired=False):
        gen = Generation("<s>60</s>", False, ((4, self._SURE[-6:] + self._SURE[:-6]), (5, self._SURE)))
        return [[gen] * sampling.n_samples for _ in ids]


def open_engine(args):  # eval_bt's settings (field names = flag names)
    run = resolve_run(args.run_dir)
    ck = resolve_checkpoint(args.checkpoint, run, args.model)
    own = run_for_checkpoint(run, ck)
    weights = base_weights(ck, own, args.model)
    dtype = "float32" if args.dtype == "auto" else DTYPES[args.dtype]
    info = {"weights": weights, "dtype": dtype, "device": "cpu", "fingerprint": checkpoint_fingerprint(ck, weights)}
    settings = template_settings(own, args.template, args.system, args.response_prefix)
    loaded = SimpleNamespace(checkpoint=ck, settings=settings, info=info, template=_Template())
    return _Engine(), loaded, run


def use_stand_in(monkeypatch, root: Path) -> tuple[Path, Path, Path]:
    """Point the sweep at this stand-in and build a fake run: (run dir with args.json, its checkpoint-5 LoRA
    adapter, the base model dir)."""
    from grpo_bt_rm.eval import sweep

    monkeypatch.setattr(sweep, "EVAL_CMD", (sys.executable, __file__))
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    base = root / "base_model"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"base weights")
    run = root / "run"
    ck = run / "checkpoint-5"
    ck.mkdir(parents=True)
    (run / "args.json").write_text(json.dumps({"model": str(base), "template": "qwen2_5", "system": "judge"}))
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(b"adapter v1")
    return run, ck, base


if __name__ == "__main__":
    judge.open_engine = open_engine
    sys.exit(eval_bt.main(sys.argv[1:]))
