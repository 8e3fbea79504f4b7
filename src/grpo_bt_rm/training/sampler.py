"""`PairRepeatSampler`: trl's RepeatSampler batch structure, but drawing whole preference pairs.

    sampler = PairRepeatSampler.from_dataset(ds, mini_repeat_count=K, batch_size=rows_per_generation_batch,
                                             repeat_count=num_iterations * steps_per_generation, seed=42)

Each generation batch holds `batch_size // 2` pairs; every pair is emitted as side 0 ×K then side 1 ×K, so
consecutive slices of `2K`-multiples (one per process, as accelerate hands them out) never split a pair.
Uniform mode covers every pair once per epoch (a fresh permutation each epoch; the last batch is topped up
with pairs from the start of the same permutation). Weighted mode draws whole pairs with replacement in
proportion to `density_weight`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from grpo_bt_rm.data.pairs import dataset_column
from grpo_bt_rm.data.pointwise import whole_pairs


def pairs_from_columns(pair_ids: Sequence, sides: Sequence, where: str = "dataset",
                       preferred: Sequence | None = None) -> list[tuple[int, int]]:
    """Row indices `(side0_row, side1_row)` per pair, in order of first appearance; validates the structure.

    Row numbers are positions in the loaded (possibly shuffled) dataset; the trainer checks the training files
    with their line numbers first (`grpo_bt_rm.data.pointwise`), so these errors are the fallback.
    """
    if len(pair_ids) != len(sides) or (preferred is not None and len(preferred) != len(sides)):
        raise ValueError(f"{where}: {len(pair_ids)} pair_id values but {len(sides)} side values")
    seen: dict = {}
    for row, (pid, side) in enumerate(zip(pair_ids, sides)):
        if side not in (0, 1) or isinstance(side, bool):
            raise ValueError(f"{where} row {row}: field 'side' must be 0 or 1, got {side!r}")
        slots = seen.setdefault(pid, [None, None])
        if slots[side] is not None:
            raise ValueError(f"{where} row {row}: duplicate (pair_id, side) = ({pid!r}, {side}); first seen at row "
                             f"{slots[side]}")
        other = slots[1 - side]
        if preferred is not None and other is not None and preferred[other] != preferred[row]:
            raise ValueError(f"{where} rows {other} and {row} (pair_id {pid!r}) disagree on preferred_side: "
                             f"{preferred[other]!r} vs {preferred[row]!r}")
        slots[side] = row
    return [(a, b) for a, b in whole_pairs(seen, lambda row: f"{where} row {row}", ValueError)]


class PairRepeatSampler(Sampler[int]):
    """Yield dataset row indices in trl's RepeatSampler layout, keeping each preference pair whole.

    Args:
        pairs: `(row of side 0, row of side 1)` per pair (list of length n_pairs).
        mini_repeat_count: K, how many times each row repeats in a row (num_generations).
        batch_size: rows per generation batch; an even number >= 2, so it holds `batch_size // 2` pairs.
        repeat_count: how many times each batch of pairs is emitted (num_iterations x steps_per_generation).
        shuffle: draw a fresh seeded permutation of the pairs each epoch (uniform mode).
        seed: seeds the torch generator; None leaves it unseeded.
        weights: one weight >= 0 per pair: draw pairs with replacement in proportion to them (weighted mode).

    Raises:
        ValueError: no pairs, an odd or too small batch_size, repeat counts < 1, or unusable weights.
    """
    def __init__(
        self,
        pairs: Sequence[tuple[int, int]],
        mini_repeat_count: int,
        batch_size: int = 2,
        repeat_count: int = 1,
        shuffle: bool = True,
        seed: int | None = None,
        weights: Sequence[float] | None = None,
    ):
        if not pairs:
            raise ValueError("PairRepeatSampler: no pairs to sample")
        if batch_size < 2 or batch_size % 2:
            raise ValueError(f"PairRepeatSampler: batch_size (rows per generation batch = generation_batch_size / "
                             f"num_generations) must be an even number >= 2 so pairs are whole, got {batch_size}")
        if mini_repeat_count < 1 or repeat_count < 1:
            raise ValueError("PairRepeatSampler: mini_repeat_count and repeat_count must be >= 1")
        self.pairs = list(pairs)
        self.mini_repeat_count = mini_repeat_count
        self.batch_size = batch_size
        self.pairs_per_batch = batch_size // 2
        self.repeat_count = repeat_count
        self.shuffle = shuffle
        self.seed = seed
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        self.weights = None
        if weights is not None:
            w = torch.as_tensor([float(x) for x in weights], dtype=torch.float64)
            if len(w) != len(self.pairs):
                raise ValueError(f"PairRepeatSampler: {len(w)} weights for {len(self.pairs)} pairs")
            if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError("PairRepeatSampler: density weights must be finite, >= 0 and not all 0")
            self.weights = w
        self.num_batches = math.ceil(len(self.pairs) / self.pairs_per_batch)

    @classmethod
    def from_dataset(cls, dataset, *, weighted: bool = False, **kwargs) -> PairRepeatSampler:
        """Build the sampler from a pointwise dataset's `pair_id` / `side` (and `preferred_side`) columns.

        Args:
            dataset: a Hugging Face `Dataset` or a sequence of dict rows, two rows per pair.
            weighted: draw pairs in proportion to the `density_weight` column.
            **kwargs: passed to the constructor (mini_repeat_count, batch_size, repeat_count, shuffle, seed).

        Raises:
            ValueError: the `pair_id`/`side` columns are missing, `weighted` without a `density_weight` column, the two
                rows of a pair disagree on `density_weight`, or the pairs themselves are malformed.
        """
        pair_ids, sides = dataset_column(dataset, "pair_id"), dataset_column(dataset, "side")
        if pair_ids is None or sides is None:
            raise ValueError("the training dataset has no 'pair_id'/'side' columns: build it with "
                             "`python -m grpo_bt_rm.data.build_dataset` (two rows per pair)")
        pairs = pairs_from_columns(pair_ids, sides, preferred=dataset_column(dataset, "preferred_side"))
        weights = None
        if weighted:
            dw = dataset_column(dataset, "density_weight")
            if dw is None:
                raise ValueError("BT_PAIR_SAMPLING=weighted needs a 'density_weight' column in the training dataset "
                                 "(from the density pipeline)")
            weights = []
            for a, b in pairs:
                if dw[a] != dw[b]:
                    raise ValueError(f"dataset rows {a} and {b} (pair {pair_ids[a]!r}) disagree on density_weight: "
                                     f"{dw[a]!r} vs {dw[b]!r}")
                weights.append(dw[a])
        return cls(pairs, weights=weights, **kwargs)

    def epoch_order(self) -> list[int]:
        """Pair indices for one epoch: num_batches * pairs_per_batch of them (advances the generator)."""
        n, total = len(self.pairs), self.num_batches * self.pairs_per_batch
        if self.weights is not None:
            return torch.multinomial(self.weights, total, replacement=True, generator=self.generator).tolist()
        order = torch.randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))
        return order + [order[i % n] for i in range(total - n)]

    def __iter__(self) -> Iterator[int]:
        order = self.epoch_order()
        k, ppb = self.mini_repeat_count, self.pairs_per_batch
        for start in range(0, len(order), ppb):
            chunk = order[start:start + ppb]
            for _ in range(self.repeat_count):
                for p in chunk:
                    a, b = self.pairs[p]
                    for _ in range(k):
                        yield a
                    for _ in range(k):
                        yield b

    def __len__(self) -> int:
        return self.num_batches * self.pairs_per_batch * 2 * self.mini_repeat_count * self.repeat_count
