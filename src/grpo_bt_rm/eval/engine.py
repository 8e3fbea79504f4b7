"""Batched judge generation: every sample of every prompt in a batch goes out in one engine call.

    eng = TransformersEngine(judge.model, judge.tokenizer, stop_ids)
    gens = eng.generate([ids_a, ids_b], SamplingSettings(n_samples=4, do_sample=True))  # [[4 Generation], [4 ...]]
    gens[0][0].text, gens[0][0].truncated

`transformers`: left-padded `model.generate` with `num_return_sequences`; `vllm` (GPU only, optional): one
`LLM.generate` call over token-id prompts with `SamplingParams(n=...)` and prefix caching on.
A generation is `truncated` when it stopped at `max_new_tokens` instead of ending by itself (transformers: no stop
token among its new tokens; vLLM: `finish_reason == "length"`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from grpo_bt_rm.io import InputError

log = logging.getLogger("grpo_bt_rm.eval.engine")


class Generation(NamedTuple):
    text: str  # the decoded continuation, stop token excluded
    truncated: bool  # stopped at max_new_tokens rather than at a stop token


@dataclass(frozen=True)
class SamplingSettings:
    n_samples: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 or negative: off
    max_new_tokens: int = 128

    def validate(self) -> SamplingSettings:
        if self.n_samples < 1:
            raise InputError(f"--n_samples must be >= 1, got {self.n_samples}")
        if self.n_samples > 1 and not self.do_sample:
            raise InputError("--n_samples > 1 needs --do_sample (greedy decoding repeats the same completion)")
        if self.do_sample and self.temperature <= 0:
            raise InputError(f"--temperature must be > 0 with --do_sample, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"--top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise InputError(f"--max_new_tokens must be >= 1, got {self.max_new_tokens}")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and every GPU)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def stop_token_ids(tokenizer, template) -> list[int]:
    """eos plus the template's stop words that are single tokens (e.g. <|im_end|>, <|endoftext|>)."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    for word in getattr(template.template_meta, "stop_words", None) or []:
        if isinstance(word, str):
            tok = tokenizer.convert_tokens_to_ids(word)
            if isinstance(tok, int) and tok != tokenizer.unk_token_id:
                ids.add(tok)
    return sorted(ids)


class TransformersEngine:
    name = "transformers"

    def __init__(self, model, tokenizer, stop_ids: list[int]):
        self.model = model
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else stop_ids[0])
        self.prefill_once = True  # False: plain generate(num_return_sequences=n), for comparison (bench, tests)

    def generate(self, prompts: list[list[int]], s: SamplingSettings) -> list[list[Generation]]:
        import torch

        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: the last prompt token is at the same position for all
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        kwargs = dict(max_new_tokens=s.max_new_tokens, do_sample=s.do_sample, num_return_sequences=s.n_samples,
                      pad_token_id=self.pad_id, eos_token_id=self.stop_ids)
        if s.do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k if s.top_k > 0 else None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            if s.n_samples > 1 and width > 1 and self.prefill_once:
                # Prefill every prompt once, then give each of its n samples a copy of its KV cache: generate()
                # would otherwise expand the prompts n times before the prefill and compute each prompt n times.
                cache = self._prefill(ids[:, :-1], mask[:, :-1])
                cache.batch_repeat_interleave(s.n_samples)
                kwargs.update(num_return_sequences=1, past_key_values=cache)
                ids = ids.repeat_interleave(s.n_samples, dim=0)
                mask = mask.repeat_interleave(s.n_samples, dim=0)
            out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        new = out[:, width:].tolist()
        gens = [self._decode(row) for row in new]
        return [gens[i * s.n_samples:(i + 1) * s.n_samples] for i in range(len(prompts))]

    def _prefill(self, ids, mask):
        """KV cache of `ids` (left-padded), with the positions generate() would give them (padding-aware)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        self.model(input_ids=ids, attention_mask=mask, position_ids=position_ids, past_key_values=cache,
                   use_cache=True, logits_to_keep=1)
        return cache

    def _decode(self, row: list[int]) -> Generation:
        stops = set(self.stop_ids)
        for j, t in enumerate(row):
            if t in stops:
                return Generation(self.tokenizer.decode(row[:j], skip_special_tokens=True), False)
        # no stop token: the row ran to max_new_tokens (a row that ended earlier holds its stop token, then padding)
        return Generation(self.tokenizer.decode(row, skip_special_tokens=True), True)


class VllmEngine:
    """vLLM on GPU. The model directory must be a full model (merge a LoRA first, or pass it as --checkpoint)."""

    name = "vllm"

    def __init__(self, model_path: str, tokenizer, stop_ids: list[int], dtype: str, seed: int,
                 lora_path: str | None = None):
        try:
            from vllm import LLM
        except ImportError as e:
            raise InputError("--engine vllm: vllm is not installed (it is optional and needs a GPU)") from e
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.lora_path = lora_path
        # the two sides of a pair and the samples of a side share their prompt prefix: let vLLM reuse its KV blocks
        self.llm = LLM(model=model_path, dtype=dtype, seed=seed, enable_lora=lora_path is not None,
                       enable_prefix_caching=True)

    def generate(self, prompts: list[list[int]], s: SamplingSettings) -> list[list[Generation]]:
        from vllm import SamplingParams

        params = SamplingParams(n=s.n_samples, temperature=s.temperature if s.do_sample else 0.0,
                                top_p=s.top_p if s.do_sample else 1.0,
                                top_k=s.top_k if (s.do_sample and s.top_k > 0) else -1,
                                max_tokens=s.max_new_tokens, stop_token_ids=self.stop_ids,
                                skip_special_tokens=True)
        lora = None
        if self.lora_path:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("judge", 1, self.lora_path)
        outs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False,
                                 lora_request=lora)
        return [[Generation(c.text, c.finish_reason == "length") for c in o.outputs] for o in outs]
