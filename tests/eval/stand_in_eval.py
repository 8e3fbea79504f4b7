"""eval_bt with the model faked: real argument handling, data loading, checkpoint resolution and result writing.

    python tests/eval/stand_in_eval.py <eval_bt flags>   # every completion is "<s>60</s>"; no model is loaded
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from grpo_bt_rm.eval import eval_bt
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
    def generate(self, ids, sampling):
        return [[Generation("<s>60</s>", False)] * sampling.n_samples for _ in ids]


def open_engine(args):
    run = resolve_run(args.run_dir)
    ck = resolve_checkpoint(args.checkpoint, run, args.model)
    own = run_for_checkpoint(run, ck)
    weights = base_weights(ck, own, args.model)
    dtype = "float32" if args.dtype == "auto" else DTYPES[args.dtype]
    info = {"weights": weights, "dtype": dtype, "device": "cpu", "fingerprint": checkpoint_fingerprint(ck, weights)}
    settings = template_settings(own, args.template, args.system, args.response_prefix)
    judge = SimpleNamespace(checkpoint=ck, settings=settings, info=info, template=_Template())
    return _Engine(), judge, run


if __name__ == "__main__":
    eval_bt.open_engine = open_engine
    sys.exit(eval_bt.main(sys.argv[1:]))
