"""PairRepeatSampler: trl's RepeatSampler batch structure, whole pairs, coverage, processes, weighted mode."""

from collections import Counter

import pytest
from trl.trainer.grpo_trainer import RepeatSampler

from grpo_bt_rm.training.sampler import PairRepeatSampler, pairs_from_columns


class FakeDataset:
    """Row-indexable like an HF dataset, with column access."""

    def __init__(self, rows):
        self.rows = rows
        self.column_names = sorted(rows[0])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, key):
        return [r[key] for r in self.rows] if isinstance(key, str) else self.rows[key]


def dataset(n_pairs, weights=None, shuffled=False):
    rows = [{"pair_id": f"p{p}", "side": s, "density_weight": (weights or [1.0] * n_pairs)[p]}
            for p in range(n_pairs) for s in (0, 1)]
    if shuffled:  # sides need not be adjacent in the file
        rows = rows[1::2] + rows[0::2]
    return FakeDataset(rows)


def split_processes(indices, per_process_rows, n_proc):
    """What accelerate does: consecutive slices of per_process_rows, dealt round-robin to processes."""
    chunks = [indices[i:i + per_process_rows] for i in range(0, len(indices), per_process_rows)]
    return [[c for j, c in enumerate(chunks) if j % n_proc == rank] for rank in range(n_proc)]


def test_pairs_from_columns_validation():
    assert pairs_from_columns(["a", "b", "a", "b"], [0, 0, 1, 1]) == [(0, 2), (1, 3)]
    with pytest.raises(ValueError, match="pair_id 'a' has no side 1"):
        pairs_from_columns(["a", "b", "b"], [0, 0, 1])
    with pytest.raises(ValueError, match=r"row 2: duplicate \(pair_id, side\) = \('a', 0\)"):
        pairs_from_columns(["a", "a", "a"], [0, 1, 0])
    with pytest.raises(ValueError, match="'side' must be 0 or 1"):
        pairs_from_columns(["a"], [3])


def test_same_structure_as_trl_repeat_sampler():
    """With pairs laid out side0/side1 and no shuffle, the index stream equals trl's RepeatSampler's."""
    ds = dataset(6)
    ours = PairRepeatSampler.from_dataset(ds, mini_repeat_count=3, batch_size=4, repeat_count=2, shuffle=False)
    trl = RepeatSampler(list(range(12)), mini_repeat_count=3, batch_size=4, repeat_count=2, shuffle=False)
    assert list(ours) == list(trl) and len(ours) == len(trl)


@pytest.mark.parametrize("n_proc", [1, 2, 3, 4, 8, 16])  # 8, 16: 2 or 4 nodes x 4 processes (NNODES)
@pytest.mark.parametrize("n_pairs", [5, 12])
def test_whole_pairs_per_process_and_coverage(n_proc, n_pairs):
    k, per_device_bs, steps_per_gen = 2, 4, 2  # per-process rows per generation = 8 = 2 x 2K
    per_process_rows = per_device_bs * steps_per_gen
    gen_batch = per_process_rows * n_proc
    ds = dataset(n_pairs, shuffled=True)
    s = PairRepeatSampler.from_dataset(ds, mini_repeat_count=k, batch_size=gen_batch // k, repeat_count=3,
                                       shuffle=True, seed=7)
    indices = list(s)
    assert len(indices) == len(s)
    for rank_chunks in split_processes(indices, per_process_rows, n_proc):
        for chunk in rank_chunks:  # one reward call's rows: every pair present with both sides x K
            counts = Counter((ds.rows[i]["pair_id"], ds.rows[i]["side"]) for i in chunk)
            pairs = {p for p, _ in counts}
            assert all(counts[(p, 0)] == counts[(p, 1)] > 0 and counts[(p, 0)] % k == 0 for p in pairs)
    covered = {ds.rows[i]["pair_id"] for i in indices}
    assert covered == {f"p{p}" for p in range(n_pairs)}  # every pair at least once per epoch


def test_repeat_and_mini_repeat_pattern():
    s = PairRepeatSampler([(10, 11), (20, 21)], mini_repeat_count=2, batch_size=4, repeat_count=2, shuffle=False)
    assert list(s) == [10, 10, 11, 11, 20, 20, 21, 21] * 2


def test_epoch_reshuffle_and_seed():
    pairs = [(2 * i, 2 * i + 1) for i in range(20)]
    a = PairRepeatSampler(pairs, mini_repeat_count=1, batch_size=4, seed=3)
    b = PairRepeatSampler(pairs, mini_repeat_count=1, batch_size=4, seed=3)
    e1, e2 = list(a), list(a)
    assert e1 == list(b)  # same seed -> same order on every process
    assert e1 != e2 and sorted(e1) == sorted(e2) == list(range(40))  # new permutation, full coverage each epoch


def test_last_batch_topped_up():
    s = PairRepeatSampler([(0, 1), (2, 3), (4, 5)], mini_repeat_count=1, batch_size=4, shuffle=False)
    assert list(s) == [0, 1, 2, 3, 4, 5, 0, 1] and len(s) == 8


def test_weighted_mode_proportional():
    ds = dataset(3, weights=[1.0, 3.0, 0.0])
    s = PairRepeatSampler.from_dataset(ds, weighted=True, mini_repeat_count=1, batch_size=2, seed=0)
    counts = Counter()
    for _ in range(300):  # 300 epochs x 3 pairs
        counts.update(ds.rows[i]["pair_id"] for i in list(s)[0::2])
    total = sum(counts.values())
    assert counts["p2"] == 0
    assert counts["p1"] / total == pytest.approx(0.75, abs=0.04)
    indices = list(s)
    assert all(ds.rows[a]["pair_id"] == ds.rows[b]["pair_id"] and ds.rows[b]["side"] == 1
               for a, b in zip(indices[0::2], indices[1::2]))


def test_weighted_mode_errors():
    ds = FakeDataset([{"pair_id": "a", "side": 0}, {"pair_id": "a", "side": 1}])
    with pytest.raises(ValueError, match="density_weight"):
        PairRepeatSampler.from_dataset(ds, weighted=True, mini_repeat_count=1, batch_size=2)
    ds = FakeDataset([{"pair_id": "a", "side": 0, "density_weight": 1}, {"pair_id": "a", "side": 1,
                                                                         "density_weight": 2}])
    with pytest.raises(ValueError, match="disagree on density_weight"):
        PairRepeatSampler.from_dataset(ds, weighted=True, mini_repeat_count=1, batch_size=2)


def test_bad_batch_and_missing_columns():
    with pytest.raises(ValueError, match="even number"):
        PairRepeatSampler([(0, 1)], mini_repeat_count=2, batch_size=3)
    with pytest.raises(ValueError, match="no 'pair_id'/'side' columns"):
        PairRepeatSampler.from_dataset(FakeDataset([{"messages": []}]), mini_repeat_count=1, batch_size=2)


def test_pairs_disagreeing_on_preferred_side_fail_when_the_sampler_is_built():
    """Issue 12 item 5: a corrupt label fails at start-up, not when (or if) the pair is drawn."""
    rows = [{"pair_id": p, "side": s, "preferred_side": 1 if (p, s) == (7, 1) else 0} for p in range(8) for s in (0, 1)]
    with pytest.raises(ValueError, match=r"rows 14 and 15 \(pair_id 7\) disagree on preferred_side: 0 vs 1"):
        PairRepeatSampler.from_dataset(FakeDataset(rows), mini_repeat_count=2, batch_size=2)


def test_dataset_column_reads_hf_datasets_and_lists():
    from datasets import Dataset

    from grpo_bt_rm.data.pairs import dataset_column

    rows = [{"pair_id": "a", "side": 0}, {"pair_id": "a", "side": 1}]
    assert dataset_column(rows, "side") == [0, 1] and dataset_column(rows, "parser_name") is None
    ds = Dataset.from_list(rows)
    assert dataset_column(ds, "pair_id") == ["a", "a"] and dataset_column(ds, "density_weight") is None
    assert dataset_column([], "side") == []
