"""The Pair record every adapter yields, stable ids (`pair_key`, `prompt_id`), load statistics, and
`dataset_column` (one column of a loaded dataset, for the trainer and sampler).

    from grpo_bt_rm.data.pairs import pair_key, dataset_column
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pair:
    """Two responses to one context and which of them people preferred.

    Attributes:
        context: the prompt or conversation so far.
        response_0: the response on side 0.
        response_1: the response on side 1.
        preferred_side: 0 or 1, the side people chose.
        source_index: the row's index in its source split (stable across runs).
        meta: provenance such as `dataset` and `split`.
    """
    context: str
    response_0: str
    response_1: str
    preferred_side: int  # 0 or 1
    source_index: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The pair's stable id `dataset:split:source_index` (see `pair_key`); `?` for missing metadata."""
        return pair_key(self.meta.get("dataset", "?"), self.meta.get("split", "?"), self.source_index)

    def swapped(self) -> Pair:
        """The same pair with its sides exchanged (`preferred_side` flipped; same index and meta)."""
        return Pair(self.context, self.response_1, self.response_0, 1 - self.preferred_side, self.source_index,
                    self.meta)

    @property
    def chosen(self) -> str:
        """The preferred response."""
        return self.response_0 if self.preferred_side == 0 else self.response_1

    @property
    def rejected(self) -> str:
        """The response that was not preferred."""
        return self.response_1 if self.preferred_side == 0 else self.response_0


def pair_key(dataset: str, split: str, source_index: int) -> str:
    """The stable id of a pair across tools (teacher records, eval completions): `dataset:split:index`."""
    return f"{dataset}:{split}:{source_index}"


def prompt_id(context: str) -> str:
    """First 16 hex chars of md5(context): the id shared by the builder, density weights and reports."""
    return hashlib.md5(context.encode("utf-8")).hexdigest()[:16]


def dataset_column(dataset, name: str) -> list | None:
    """One column of a loaded dataset as a list, or None when the dataset has no such column.

    Args:
        dataset: a Hugging Face `Dataset` (has `column_names`) or any sequence of dicts.
        name: the column.

    Returns:
        The column's values in row order; None if the column is absent (judged on the first row for dicts).
    """
    names = getattr(dataset, "column_names", None)
    if names is not None:
        return list(dataset[name]) if name in names else None
    rows = [dataset[i] for i in range(len(dataset))]
    if rows and name not in rows[0]:
        return None
    return [r[name] for r in rows]


class Drop(Exception):  # noqa: N818  (control flow, not an error)
    """Raised by an adapter for a well-formed row that yields no usable pair; `reason` is counted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedRow(Exception):  # noqa: N818
    """Raised by an adapter for a row missing a field or holding the wrong type; the loader adds file/line."""

    def __init__(self, field: str, problem: str = "missing"):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass
class LoadStats:
    """Counts from loading one or more sources, written to the dataset's manifest.

    Attributes:
        rows: raw rows read.
        pairs: pairs kept.
        dropped: reason -> number of rows dropped for it (e.g. ties, duplicates).
        malformed: malformed rows skipped (with `skip_bad`).
        malformed_examples: locations and reasons of malformed rows (the manifest keeps the first 10).
        files: absolute path -> sha256 of each local raw file read.
    """
    rows: int = 0
    pairs: int = 0
    dropped: Counter = field(default_factory=Counter)
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> sha256 of each local raw file read

    def as_dict(self) -> dict:
        """The counts as a JSON-ready dict (drops sorted by reason, at most 10 malformed examples)."""
        return {
            "files": dict(self.files),
            "rows": self.rows,
            "pairs": self.pairs,
            "dropped": dict(sorted(self.dropped.items())),
            "malformed": self.malformed,
            "malformed_examples": self.malformed_examples[:10],
        }
