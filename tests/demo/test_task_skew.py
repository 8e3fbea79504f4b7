"""The demo task's training-category skew (--train_category_weights, for bench/density_demo.sh): exact counts, clear
errors, held-out splits untouched, and the default task byte for byte what it was before the option existed."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from grpo_bt_rm.demo import task
from grpo_bt_rm.demo.task import NAMES, category_quota, make_pairs, parse_category_weights, split_names, write_task

SKEW = "animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667"

# sha256 of the default task's files (DATA_SEED 0, 2000 / 250 / 500 pairs) as written before the option was added;
# a deliberate change of the task must bump TASK_VERSION and these.
DEFAULT_SHA256 = {
    "train": "5c5df309c7bfb8ca10f29c3b6ccb77d23539252a2ed902132eace79b922c0cf0",
    "val": "adbe322a8ef6ac8b9a29c084d5b2a7e185c99a0a181d984fcf77f80db42ca205",
    "test": "4845ef3608fd254faed9b6678e5578fc274fed16fcf9ff871c448688b71e3e5a",
}


def speaker(prompt: str) -> str:
    """The one speaker name in a demo context."""
    found = [w for w in re.findall(r"[A-Z][a-z]+", prompt) if w in NAMES]
    assert len(found) == 1, prompt
    return found[0]


def test_default_task_is_unchanged(tmp_path):
    paths = write_task(tmp_path, {"train": 2000, "val": 250, "test": 500}, seed=0)
    for split, sha in DEFAULT_SHA256.items():
        assert hashlib.sha256(paths[split].read_bytes()).hexdigest() == sha, split
        manifest = json.loads((tmp_path / f"{split}.jsonl.manifest.json").read_text())
        assert "category_weights" not in manifest and "category_counts" not in manifest  # no new keys by default


def test_weights_give_exact_counts_from_train_speakers_only():
    rows = make_pairs("train", 600, seed=0, category_weights=parse_category_weights(SKEW))
    assert Counter(r["category"] for r in rows) == {"animal": 480, "color": 40, "fruit": 40, "tool": 40}
    assert len({r["prompt"] for r in rows}) == 600  # still one pair per distinct context
    assert {speaker(r["prompt"]) for r in rows} <= set(split_names(0)["train"])
    assert {r["kind"] for r in rows} == set(task.KINDS)


def test_skew_touches_only_train_and_is_recorded(tmp_path):
    sizes = {"train": 400, "val": 60, "test": 80}
    plain = write_task(tmp_path / "plain", sizes, seed=0)
    skewed = write_task(tmp_path / "skew", sizes, seed=0, train_category_weights=parse_category_weights(SKEW))
    for split in ("val", "test"):  # the held-out splits are the balanced draws, byte for byte
        assert skewed[split].read_bytes() == plain[split].read_bytes()
    rows = {s: [json.loads(x) for x in skewed[s].read_text().splitlines()] for s in sizes}
    spk = {s: {speaker(r["prompt"]) for r in rs} for s, rs in rows.items()}
    assert not spk["train"] & spk["val"] and not spk["train"] & spk["test"] and not spk["val"] & spk["test"]
    assert not {r["prompt"] for r in rows["train"]} & {r["prompt"] for r in rows["test"]}
    man = {s: json.loads((tmp_path / "skew" / f"{s}.jsonl.manifest.json").read_text()) for s in sizes}
    shares = {"animal": 0.8 / 1.0001, "color": 0.0667 / 1.0001, "fruit": 0.0667 / 1.0001, "tool": 0.0667 / 1.0001}
    assert man["train"]["category_weights"] == pytest.approx(shares)  # normalised to sum 1
    assert man["train"]["category_counts"] == {"animal": 320, "color": 27, "fruit": 27, "tool": 26}
    assert man["test"]["category_weights"] is None  # balanced
    assert sum(man["test"]["category_counts"].values()) == 80


@pytest.mark.parametrize(("n", "weights", "want"), [
    (600, SKEW, {"animal": 480, "color": 40, "fruit": 40, "tool": 40}),
    (10, "animal=1,color=1,fruit=1,tool=1", {"animal": 3, "color": 3, "fruit": 2, "tool": 2}),  # ties: category order
    (7, "animal=1,color=0,fruit=0,tool=0", {"animal": 7, "color": 0, "fruit": 0, "tool": 0}),  # a zero weight: none
    (5, "animal=2,color=1,fruit=1,tool=1", {"animal": 2, "color": 1, "fruit": 1, "tool": 1}),
])
def test_quota_sums_to_n(n, weights, want):
    assert category_quota(n, parse_category_weights(weights)) == want


@pytest.mark.parametrize(("text", "message"), [
    ("animal=0.8", "no weight for color, fruit, tool"),  # every category must be named
    ("animal=0.5,color=0.5,fruit=0,tool=0,cow=1", "unknown category 'cow'"),
    ("animal=1,animal=2,color=0,fruit=0,tool=0", "given twice"),
    ("animal=-1,color=1,fruit=1,tool=1", "expected a number >= 0"),
    ("animal=x,color=1,fruit=1,tool=1", "expected a number >= 0"),
    ("animal=nan,color=1,fruit=1,tool=1", "expected a number >= 0"),
    ("animal=0,color=0,fruit=0,tool=0", "sum to 0"),
    ("animal:0.8,color=0,fruit=0,tool=0", "is not CATEGORY=WEIGHT"),
])
def test_bad_weights_are_rejected(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_category_weights(text)


def test_cli_names_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        task.main(["--out", str(tmp_path), "--train_category_weights", "animal=0.8"])
    assert e.value.code == 2 and "argument --train_category_weights: no weight for" in capsys.readouterr().err
    assert not (tmp_path / "train.jsonl").exists()


def test_too_many_pairs_for_the_crowded_category(tmp_path, capsys):
    per_category = len(split_names(0)["train"]) * len(task.QUESTIONS)  # 69 speakers x 8 questions = 552
    with pytest.raises(ValueError, match=rf"'animal' 640 of 800 pairs.*only {per_category} distinct contexts"):
        make_pairs("train", 800, seed=0, category_weights=parse_category_weights(SKEW))
    with pytest.raises(SystemExit) as e:
        task.main(["--out", str(tmp_path), "--n_train", "800", "--train_category_weights", SKEW])
    assert e.value.code == 2 and "--train_category_weights" in capsys.readouterr().err
