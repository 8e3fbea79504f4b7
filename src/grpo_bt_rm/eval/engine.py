"""Batched judge generation: every sample of every prompt in a batch goes out in one engine call.

    eng = TransformersEngine(judge.model, judge.tokenizer, stop_ids)
    gens = eng.generate([ids_a, ids_b], SamplingSettings(n_samples=4, do_sample=True))  # [[4 Generation], [4 ...]]
    gens[0][0].text, gens[0][0].truncated

`transformers`: left-padded `model.generate` with `num_return_sequences`; `vllm` (GPU only, optional): one
`LLM.generate` call over token-id prompts with `SamplingParams(n=...)` and prefix caching on.
A generation is `truncated` when it stopped at `max_new_tokens` instead of ending by itself (transformers: no stop
token among its new tokens; vLLM: `finish_reason == "length"`). The transformers engine also records, at every
generated single-digit token, the judge's log-probabilities of the ten digits (`Generation.digits`), which
`--scoring expected` reads (grpo_bt_rm.eval.expected_score); vLLM records none.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from grpo_bt_rm.io import InputError

log = logging.getLogger(__name__)


class Generation(NamedTuple):
    """One decoded sample: its text (stop token excluded), whether it stopped at max_new_tokens, and its digit
    log-probabilities: None when not recorded, else one `(char_end, (lp_0, ..., lp_9))` per generated single-digit
    token, char_end being the offset in `text` just after that digit."""
    text: str  # the decoded continuation, stop token excluded
    truncated: bool  # stopped at max_new_tokens rather than at a stop token
    digits: tuple | None = None


def digit_token_ids(tokenizer) -> list[int] | None:
    """The ids of the tokens "0".."9", or None when some digit is not a token of its own."""
    ids = [tokenizer.convert_tokens_to_ids(d) for d in "0123456789"]
    if any(not isinstance(i, int) or i == tokenizer.unk_token_id for i in ids):
        return None
    return ids


class DigitLogprobs:
    """A `transformers` logits processor that keeps, at each generation step, every row's log-probabilities of
    the ten digit tokens and returns the scores unchanged. It runs after transformers' logits processors and
    before the sampling warpers (temperature, top-k, top-p), so it sees the distribution greedy decoding takes
    its argmax of. `steps` holds one (rows, 10) float32 tensor per step."""

    def __init__(self, digit_ids: list[int]):
        self.digit_ids = digit_ids
        self.steps: list = []

    def __call__(self, input_ids, scores):
        self.steps.append(scores.float().log_softmax(-1)[:, self.digit_ids].cpu())
        return scores


@dataclass(frozen=True)
class SamplingSettings:
    """How the judge samples: count, greedy or sampled, temperature, top-p, top-k and length.

    Attributes:
        n_samples: completions per prompt.
        do_sample: sample (True) or decode greedily (False).
        temperature: sampling temperature; must be > 0 with `do_sample`.
        top_p: nucleus mass in (0, 1].
        top_k: top-k cut-off; 0 or negative turns it off.
        max_new_tokens: generation limit in tokens per completion.
    """
    n_samples: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 or negative: off
    max_new_tokens: int = 128

    def validate(self) -> SamplingSettings:
        """Check the settings and return them unchanged.

        Raises:
            InputError: n_samples < 1, n_samples > 1 without do_sample, temperature <= 0 with do_sample,
                top_p outside (0, 1], or max_new_tokens < 1; the message names the flag.
        """
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
        """The settings as a plain dict, for result provenance."""
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
    """Left-padded batched `model.generate`, with three exact shortcuts (same tokens as plain generate, tested):

    - the two sides of a pair (`paired=True`: prompts 2j and 2j+1) share their token prefix (template, system,
      instructions, dialogue): it is prefilled once per pair and its KV cache given to both sides;
    - each prompt is prefilled once and its cache repeated for its n samples (generate() would expand the prompts
      n times first);
    - grouped-query attention runs on the cache without copying the KV heads (see `folded_gqa_sdpa`).
    Row layout: [padding][shared prefix][padding][own rest of the prompt]; positions come from the attention mask,
    so the padding in the middle changes nothing. `reuse_prefill = False` gives plain generate (bench, tests).
    """

    name = "transformers"

    def __init__(self, model, tokenizer, stop_ids: list[int]):
        self.model = model
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else stop_ids[0])
        self.reuse_prefill = True
        self.digit_ids = digit_token_ids(tokenizer)
        use_folded_gqa(model)

    def generate(self, prompts: list[list[int]], s: SamplingSettings, paired: bool = False
                 ) -> list[list[Generation]]:
        """Generate `s.n_samples` completions for each tokenized prompt with `model.generate`.

        With `reuse_prefill`, the prompt is prefilled once and its KV cache copied per sample; with `paired`, the
        two sides of a pair (rows 2j and 2j+1) also share the prefill of their common token prefix when that computes
        fewer prompt tokens. The outputs equal plain batched generation.

        Args:
            prompts: token ids, one list per prompt (rows); `paired` needs an even count in side order.
            s: the sampling settings.
            paired: rows come as (side 0, side 1) pairs of the same context.

        Returns:
            A list of length len(prompts), each a list of `s.n_samples` `Generation`s.
        """
        import torch

        device = next(self.model.parameters()).device
        n, rows = s.n_samples, len(prompts)
        reuse = self.reuse_prefill and min(len(p) for p in prompts) > 2
        shared = [0] * rows
        if reuse and paired and rows % 2 == 0:
            for j in range(0, rows, 2):  # the pair's common token prefix, leaving each side at least one token
                shared[j] = shared[j + 1] = common_prefix_len(prompts[j], prompts[j + 1])
            # the split layout pays padding in two blocks: use it only when it computes fewer prompt tokens
            split_cost = rows // 2 * max(shared) + rows * max(len(p) - k for p, k in zip(prompts, shared))
            if split_cost >= rows * max(len(p) for p in prompts):
                shared = [0] * rows
        wa = max(shared)
        wb = max(len(p) - k for p, k in zip(prompts, shared))
        ids = torch.full((rows, wa + wb), self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, wa + wb), dtype=torch.long)
        for i, (p, k) in enumerate(zip(prompts, shared)):
            ids[i, wa - k:wa] = torch.tensor(p[:k], dtype=torch.long)
            ids[i, wa + wb - (len(p) - k):] = torch.tensor(p[k:], dtype=torch.long)
            mask[i, wa - k:wa] = 1
            mask[i, wa + wb - (len(p) - k):] = 1
        kwargs = dict(max_new_tokens=s.max_new_tokens, do_sample=s.do_sample, num_return_sequences=n,
                      pad_token_id=self.pad_id, eos_token_id=self.stop_ids)
        if s.do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k if s.top_k > 0 else None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        recorder = None
        if self.digit_ids is not None:
            from transformers import LogitsProcessorList

            recorder = DigitLogprobs(self.digit_ids)
            kwargs.update(logits_processor=LogitsProcessorList([recorder]))
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            cache = None
            if wa:  # the shared prefixes, once per pair, then one copy per side
                cache = self._prefill(ids[0::2, :wa], mask[0::2, :wa])
                cache.batch_repeat_interleave(2)
            if reuse and n > 1 and wb > 1:  # the rest of each prompt once, then one copy per sample
                cache = self._prefill(ids[:, wa:-1], mask[:, :-1], cache)
                cache.batch_repeat_interleave(n)
                ids, mask = ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
                kwargs.update(num_return_sequences=1)
            if cache is not None:
                if kwargs["num_return_sequences"] > 1:  # generate() would not expand a given cache
                    cache.batch_repeat_interleave(n)
                    ids, mask = ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
                    kwargs.update(num_return_sequences=1)
                kwargs.update(past_key_values=cache)
            out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        new = out[:, wa + wb:].tolist()
        steps = torch.stack(recorder.steps, 1).tolist() if recorder is not None and recorder.steps else None
        gens = [self._decode(row, steps[i] if steps is not None else None) for i, row in enumerate(new)]
        return [gens[i * n:(i + 1) * n] for i in range(rows)]

    def _prefill(self, ids, mask, cache=None):
        """Extend `cache` (or a new one) with `ids`; `mask` covers the cached tokens and `ids`. Positions are what
        generate() gives (mask cumsum), so padding anywhere in a row is skipped."""
        from transformers import DynamicCache

        if cache is None:
            cache = DynamicCache(config=self.model.config)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        self.model(input_ids=ids, attention_mask=mask, position_ids=position_ids, past_key_values=cache,
                   use_cache=True, logits_to_keep=1)
        return cache

    def _decode(self, row: list[int], steps: list | None = None) -> Generation:
        """The Generation of one output row; `steps[j]` holds the ten digit log-probabilities at new token j."""
        stops = set(self.stop_ids)
        end = next((j for j, t in enumerate(row) if t in stops), None)
        # no stop token: the row ran to max_new_tokens (a row that ended earlier holds its stop token, then padding)
        kept = row if end is None else row[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return Generation(text, end is None, None if steps is None else self._digits(kept, text, steps))

    def _digits(self, kept: list[int], text: str, steps: list) -> tuple:
        """(char_end, 10 log-probs) of each digit token in `kept` whose decoded prefix ends with that digit."""
        out = []
        for j, t in enumerate(kept):
            if t in self.digit_ids:
                head = self.tokenizer.decode(kept[:j + 1], skip_special_tokens=True)
                if head and text.startswith(head) and head[-1] == str(self.digit_ids.index(t)):
                    out.append((len(head), tuple(steps[j])))
        return tuple(out)


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Length of the common token prefix of two prompts, at most min(len) - 1 (each keeps a token of its own)."""
    limit = min(len(a), len(b)) - 1
    k = 0
    while k < limit and a[k] == b[k]:
        k += 1
    return k


FOLDED_GQA = "sdpa_gqa_folded"


def folded_gqa_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, is_causal=None,
                    **kwargs):
    """Grouped-query attention over a padded cache without copying KV heads.

    Shapes: query (B, H, L, D), key/value (B, Hkv, S, D), mask (B, 1, L, S); returns (B, L, H, D). transformers'
    sdpa path repeats each KV head H/Hkv times whenever a padding mask is present (a full copy of the cache per
    layer and step). Query head h uses KV head h // (H/Hkv), so the queries are regrouped to (B, Hkv, rep*L, D)
    (row r*L + l is head kv*rep + r at position l) and the mask tiled rep times: the same arithmetic, no copy.
    Falls back to transformers' sdpa function for anything else (no mask, dropout, position bias).
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, h, length, d = query.shape
    rep = h // key.shape[1]
    if rep == 1 or attention_mask is None or dropout or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    q = query.reshape(b, key.shape[1], rep * length, d)
    mask = attention_mask.repeat(1, 1, rep, 1) if length > 1 else attention_mask
    out = torch.nn.functional.scaled_dot_product_attention(q, key, value, attn_mask=mask, scale=scaling)
    return out.view(b, h, length, d).transpose(1, 2).contiguous(), None


def use_folded_gqa(model) -> bool:
    """Switch a grouped-query sdpa model to `folded_gqa_sdpa` (registered with transformers once); True if done."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    cfg = getattr(model, "config", None)
    heads, kv = getattr(cfg, "num_attention_heads", None), getattr(cfg, "num_key_value_heads", None)
    if getattr(cfg, "_attn_implementation", None) != "sdpa" or not heads or not kv or heads == kv:
        return False
    if FOLDED_GQA not in AttentionInterface._global_mapping:
        AttentionInterface.register(FOLDED_GQA, folded_gqa_sdpa)
        AttentionMaskInterface.register(FOLDED_GQA, sdpa_mask)
    model.set_attn_implementation(FOLDED_GQA)
    return True


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

    def generate(self, prompts: list[list[int]], s: SamplingSettings, paired: bool = False
                 ) -> list[list[Generation]]:
        """Generate `s.n_samples` completions for each tokenized prompt with vLLM (LoRA if set).

        Shared prefixes are left to vLLM's prefix caching, so `paired` is accepted and ignored.

        Returns:
            A list of length len(prompts), each a list of `s.n_samples` `Generation`s.
        """
        from vllm import SamplingParams  # shared prefixes: vLLM's prefix caching (`paired` is not needed)

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
