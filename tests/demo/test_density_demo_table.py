"""bench/density_demo_table.py on a made-up bench/density_demo.sh output: crowded vs rare accuracy, per-seed category
tables, mean ± std over seeds and the paired difference to the uniform arm (no model is trained)."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.demo.task import parse_category_weights, write_task
from grpo_bt_rm.io import write_json, write_jsonl
from tests.demo.test_breakdown import judged
from tests.script_module import load_script

SKEW = "animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667"
# Which categories each model judges right (the others wrong): advantage also gets one rare category right.
RIGHT = {"sft": set(), "uniform": {"animal"}, "advantage": {"animal", "color"}}


def load_table():
    return load_script("bench/density_demo_table.py")


@pytest.fixture
def out(tmp_path):
    for seed in (0, 1):
        d = tmp_path / f"seed{seed}"
        paths = write_task(d / "raw", {"train": 100, "test": 60}, seed=0,
                           train_category_weights=parse_category_weights(SKEW))
        train = [json.loads(x) for x in paths["train"].read_text().splitlines()]
        weight = {c: 4.0 for c in ("color", "fruit", "tool")} | {"animal": 1.0}  # rare pairs weigh 4x
        write_jsonl(d / "grpo_data" / "train_dw.jsonl", [  # two rows per pair
            {"pair_id": i, "side": side, "source_index": i, "density_weight": weight[r["category"]]}
            for i, r in enumerate(train) for side in (0, 1)])
        rows = [json.loads(x) for x in paths["test"].read_text().splitlines()]
        for m, right in RIGHT.items():
            recs = judged(rows, right=right, tie=set())
            write_jsonl(d / "eval" / f"{m}.test.completions.jsonl", recs)
            acc = sum(r["category"] in right for r in rows) / len(rows)
            for sp in ("val", "test"):
                write_json(d / "eval" / f"{m}.{sp}.json", {
                    "parser": {"name": "score100_first"}, "settings": {"scoring": "text"},
                    "metrics": {"acc_all": acc + 0.01 * seed, "tie_rate": 0.0, "parse_fail_rate": 0.0}})
        regions = [{"region": b + 1, "knn_mean_dist": [b * 0.1, (b + 1) * 0.1],
                    "models": {m: {"acc_all": 0.1 * b + 0.2 * i} for i, m in enumerate(RIGHT)}} for b in range(4)]
        write_json(d / "reports" / "regions" / "regions.json", {"scoring": "text", "regions": regions})
    return tmp_path


def test_summary_over_seeds(out, capsys):
    table = load_table()
    assert table.main(["--out", str(out), "--seeds", "0", "1", "--models", *RIGHT]) == 0
    assert "# Density weighting on the skewed demo task" in capsys.readouterr().out
    summary = json.loads((out / "density_summary.json").read_text())
    agg = summary["aggregate"]
    assert summary["seeds"][0]["crowded"] == "animal" and summary["seeds"][0]["rare"] == ["color", "fruit", "tool"]
    assert agg["uniform"]["crowded_acc_all"]["mean"] == 1.0 and agg["uniform"]["rare_acc_all"]["mean"] == 0.0
    rows = [json.loads(x) for x in (out / "seed0" / "raw" / "test.jsonl").read_text().splitlines()]
    rare = [r for r in rows if r["category"] != "animal"]
    assert agg["advantage"]["rare_acc_all"]["mean"] == pytest.approx(
        sum(r["category"] == "color" for r in rare) / len(rare))  # pooled over the rare pairs
    assert agg["advantage"]["categories"]["color"] == {"mean": 1.0, "std": 0.0, "n": 2}
    assert agg["uniform"]["test_acc_all"]["std"] == pytest.approx(0.01 / 2**0.5)  # sample std of two seeds
    assert agg["sft"]["regions"][3]["mean"] == pytest.approx(0.3)
    diff = summary["diff_to_baseline"]
    assert set(diff) == {"advantage"}  # sft is not an arm; uniform is the baseline
    assert diff["advantage"]["rare_acc_all"]["mean"] > 0 and diff["advantage"]["crowded_acc_all"]["mean"] == 0
    assert summary["seeds_rare_acc_above_baseline"] == {"advantage": 2}
    shares = summary["seeds"][0]["density_weight_shares"]  # 80 animal pairs x 1 vs 20 rare pairs x 4
    assert shares["animal"]["pairs"] == 80 and shares["animal"]["weight_share"] == pytest.approx(0.5)
    assert sum(w["weight_share"] for w in shares.values()) == pytest.approx(1.0)
    assert summary["density_weight_share"]["animal"]["mean"] == pytest.approx(0.5)
    per_seed = (out / "seed1" / "categories.md").read_text()
    assert "animal (80.0% of train)" in per_seed and "| advantage |" in per_seed
    md = (out / "density_summary.md").read_text()
    assert "| advantage | +0.000" not in md and "2 of 2" in md
    assert "Scores read as: text" in md and summary["seeds"][0]["scoring"] == "text"


def set_result(out, seed: int, model: str, split: str, **fields):
    path = out / f"seed{seed}" / "eval" / f"{model}.{split}.json"
    result = json.loads(path.read_text())
    for key, value in fields.items():
        result[key] = value
    write_json(path, result)


def test_categories_read_with_the_results_parser(out):
    """The per-category accuracy reads the completions with the parser the result names: on a 1-5 scale the
    made-up <s>90</s> / <s>10</s> answers do not parse, so uniform's crowded accuracy drops from 1 to 0."""
    for seed in (0, 1):
        set_result(out, seed, "uniform", "test", parser={"name": "score5_first"})
    assert load_table().main(["--out", str(out), "--seeds", "0", "1", "--models", *RIGHT]) == 0
    agg = json.loads((out / "density_summary.json").read_text())["aggregate"]
    assert agg["uniform"]["crowded_acc_all"]["mean"] == 0.0
    assert agg["advantage"]["crowded_acc_all"]["mean"] == 1.0


@pytest.mark.parametrize("where", ["model", "seed"])
def test_mixed_readouts_are_refused(out, capsys, where):
    """One table reads every result one way: a model (or a whole seed) read with --scoring expected among text
    results stops the table, naming what differs, and writes nothing."""
    models = ["uniform"] if where == "model" else list(RIGHT)
    for m in models:
        for sp in ("val", "test"):
            set_result(out, 1, m, sp, settings={"scoring": "expected"})
    assert load_table().main(["--out", str(out), "--seeds", "0", "1", "--models", *RIGHT]) == 2
    err = capsys.readouterr().err
    assert "different --scoring" in err
    assert ("seed1/eval/uniform.val.json: expected" in err) if where == "model" else ("seed 1 expected" in err)
    assert not (out / "density_summary.md").exists()


def test_missing_eval_is_named(out, capsys):
    (out / "seed1" / "eval" / "advantage.val.json").unlink()
    assert load_table().main(["--out", str(out), "--seeds", "0", "1", "--models", *RIGHT]) == 2
    assert "seed1/eval/advantage.val.json: missing" in capsys.readouterr().err
    assert not (out / "density_summary.md").exists()


def test_regions_read_another_way_are_refused(out, capsys):
    """The per-region row must read the completions as the eval results did."""
    path = out / "seed0" / "reports" / "regions" / "regions.json"
    report = json.loads(path.read_text())
    report["scoring"] = "expected"
    write_json(path, report)
    assert load_table().main(["--out", str(out), "--seeds", "0", "1", "--models", *RIGHT]) == 2
    assert "regions.json: read with --scoring expected, the eval results with text" in capsys.readouterr().err
    assert not (out / "density_summary.md").exists()
