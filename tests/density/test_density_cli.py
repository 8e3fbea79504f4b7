"""density.compute and density.attach end to end on small files (hashing embedder, exact k-NN)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grpo_bt_rm.data import prompt_id
from grpo_bt_rm.data.build_dataset import main as build_main
from grpo_bt_rm.density import attach, compute
from grpo_bt_rm.density.inputs import collect_prompts, context_from_row
from grpo_bt_rm.prompts import PROMPTS, get_prompt

DENSE = [f"How do I cook pasta with tomato sauce, variant {i}?" for i in range(24)]
ISOLATED = ["Explain the causes of the French revolution in detail.",
            "Write a haiku about glaciers melting under a violet sky.",
            "What is the derivative of x squared times sine x?"]


def write_pairs(path, prompts):
    with open(path, "w") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"prompt": p, "chosen": f"good answer {i}", "rejected": f"bad answer {i}"}) + "\n")
    return path


@pytest.fixture
def pointwise(tmp_path):
    # one dense topic, three isolated prompts, and one prompt used by two pairs
    raw = write_pairs(tmp_path / "pairs.jsonl", DENSE + ISOLATED + [DENSE[0]])
    out = tmp_path / "pw.jsonl"
    assert build_main(["--dataset", "pairs_jsonl", "--data_files", str(raw), "--prompt", "generic_score100_v1",
                       "--add_meta", "--out", str(out)]) == 0
    return out


def rows(path):
    return [json.loads(line) for line in open(path)]


def test_compute_writes_weights_metadata_hist_and_reuses_cache(pointwise, tmp_path, capsys):
    out = tmp_path / "w"
    argv = ["--in", str(pointwise), "--out_dir", str(out), "--embedder", "hashing", "--k", "3"]
    assert compute.main(argv) == 0
    recs = rows(out / "weights.jsonl")
    npy = np.load(out / "density_weights.npy")
    meta = json.loads((out / "metadata.json").read_text())
    assert [r["weight"] for r in recs] == pytest.approx(npy.tolist())
    assert len(recs) == 27 and meta["counts"] == {"prompts": 27, "pairs": 28, "rows": 56, "clipped_prompts": 0}
    by_id = {r["prompt_id"]: r for r in recs}
    assert by_id[prompt_id(DENSE[0])]["n_pairs"] == 2
    w_dense = [by_id[prompt_id(p)]["weight"] for p in DENSE]
    w_iso = [by_id[prompt_id(p)]["weight"] for p in ISOLATED]
    assert min(w_iso) > max(w_dense)
    n = np.array([r["n_pairs"] for r in recs])
    assert (npy * n).sum() / n.sum() == pytest.approx(1.0) and meta["mean_over_pairs"] == pytest.approx(1.0)
    assert meta["effective_sample_size"] == pytest.approx((npy * n).sum() ** 2 / (npy**2 * n).sum())
    assert meta["embedder"] == "hashing" and meta["k"] == 3 and meta["alpha"] == 1.0 and meta["index"] == "exact"
    assert meta["min"] == pytest.approx(npy.min()) and meta["max"] == pytest.approx(npy.max())
    assert meta["seconds"]["total"] > 0 and meta["package_version"]
    assert meta["embedding_cache"]["embedded"] == 27
    assert (out / "weights_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "27 prompts" in capsys.readouterr().out
    # a rerun embeds nothing and gives identical weights
    assert compute.main(argv) == 0
    meta2 = json.loads((out / "metadata.json").read_text())
    assert meta2["embedding_cache"] == {**meta["embedding_cache"], "cached": 27, "embedded": 0}
    np.testing.assert_array_equal(np.load(out / "density_weights.npy"), npy)


def test_same_prompt_ids_from_pointwise_pairs_and_adapter_inputs(pointwise, tmp_path):
    raw = tmp_path / "pairs.jsonl"
    a = collect_prompts([str(pointwise)])
    b = collect_prompts([str(raw)])
    c = collect_prompts([], sources=[("pairs_jsonl", [str(raw)])])
    assert a.ids == b.ids == c.ids and a.pairs == b.pairs == c.pairs
    assert a.texts == b.texts  # the context is recovered from the rendered prompt
    assert {r["prompt_id"] for r in rows(pointwise)} == set(a.ids)


@pytest.mark.parametrize("name", PROMPTS.names())
def test_context_is_recovered_from_every_prompt_template(name):
    ctx = "Human: hi there\n\nAssistant: hello\n\nHuman: what's {up}?"
    msgs = get_prompt(name).render(ctx, "a reply: with\n\nlines")
    assert context_from_row({"messages": msgs, "prompt_name": name}, "x:1") == ctx
    assert context_from_row({"messages": msgs}, "x:1") == ctx  # found without prompt_name too


def test_attach_gives_both_sides_the_same_weight(pointwise, tmp_path):
    wdir = tmp_path / "w"
    assert compute.main(["--in", str(pointwise), "--out_dir", str(wdir), "--embedder", "hashing", "--k", "3"]) == 0
    out = tmp_path / "pw_dw.jsonl"
    assert attach.main(["--in", str(pointwise), "--weights", str(wdir), "--out", str(out)]) == 0
    src, got = rows(pointwise), rows(out)
    weights = {r["prompt_id"]: r["weight"] for r in rows(wdir / "weights.jsonl")}
    assert len(got) == len(src)
    for s, g in zip(src, got, strict=True):
        assert {k: v for k, v in g.items() if k != "density_weight"} == s  # nothing else changes
        assert g["density_weight"] == weights[s["prompt_id"]]
    for a, b in zip(got[::2], got[1::2], strict=True):
        assert a["pair_id"] == b["pair_id"] and a["density_weight"] == b["density_weight"]
    man = json.loads((tmp_path / "pw_dw.jsonl.manifest.json").read_text())
    assert man["rows"] == 56 and man["pairs"] == 28 and man["mean_weight_over_pairs"] == pytest.approx(1.0)
    assert man["weights"]["metadata"]["embedder"] == "hashing"


def test_attach_names_a_missing_prompt_id(pointwise, tmp_path, capsys):
    sub = tmp_path / "sub.jsonl"
    sub.write_text("".join(open(pointwise).readlines()[:20]))  # weights computed on 10 pairs only
    wdir = tmp_path / "w"
    assert compute.main(["--in", str(sub), "--out_dir", str(wdir), "--embedder", "hashing", "--k", "3"]) == 0
    out = tmp_path / "o.jsonl"
    assert attach.main(["--in", str(pointwise), "--weights", str(wdir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    missing = rows(pointwise)[20]["prompt_id"]
    assert missing in err and "not in the weights" in err and f"{pointwise}:21" in err
    assert not out.exists()


def test_attach_renormalize_and_bad_weights(pointwise, tmp_path, capsys):
    wdir = tmp_path / "w"
    assert compute.main(["--in", str(pointwise), "--out_dir", str(wdir), "--embedder", "hashing", "--k", "3"]) == 0
    sub = tmp_path / "sub.jsonl"
    sub.write_text("".join(open(pointwise).readlines()[-8:]))  # isolated prompts: mean weight > 1
    out = tmp_path / "o.jsonl"
    assert attach.main(["--in", str(sub), "--weights", str(wdir), "--out", str(out), "--renormalize"]) == 0
    ws = [r["density_weight"] for r in rows(out)]
    assert sum(ws) / len(ws) == pytest.approx(1.0)
    (wdir / "weights.jsonl").write_text('{"prompt_id": "x", "weight": -1}\n')
    assert attach.main(["--in", str(sub), "--weights", str(wdir), "--out", str(out)]) == 2
    assert "weights.jsonl:1: field 'weight'" in capsys.readouterr().err


def test_compute_errors_are_clear(tmp_path, capsys):
    one = write_pairs(tmp_path / "one.jsonl", ["only prompt"])
    assert compute.main(["--in", str(one), "--out_dir", str(tmp_path / "o"), "--embedder", "hashing"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert compute.main(["--out_dir", str(tmp_path / "o"), "--embedder", "hashing"]) == 2
    assert "--in" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"messages": [{"role": "user", "content": "x"}], "pair_id": 0, "side": s,
                                       "preferred_side": 0}) + "\n" for s in (0, 1)))
    assert compute.main(["--in", str(bad), "--out_dir", str(tmp_path / "o"), "--embedder", "hashing"]) == 2
    assert f"{bad}:1: field 'messages'" in capsys.readouterr().err


@pytest.mark.parametrize("cli", ["compute", "attach"])
def test_a_string_messages_row_is_rejected_by_every_consumer(pointwise, tmp_path, capsys, cli):
    """Issue 12 item 9: one shared reader checks the pointwise schema; a string `messages` never reaches training."""
    lines = open(pointwise).read().splitlines(keepends=True)
    row = json.loads(lines[4])
    row["messages"] = row["messages"][0]["content"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines[:4]) + json.dumps(row) + "\n" + "".join(lines[5:]))
    wdir = tmp_path / "w"
    assert compute.main(["--in", str(pointwise), "--out_dir", str(wdir), "--embedder", "hashing", "--k", "3"]) == 0
    capsys.readouterr()
    argv = (["--in", str(bad), "--out_dir", str(tmp_path / "w2"), "--embedder", "hashing", "--k", "3"]
            if cli == "compute" else ["--in", str(bad), "--weights", str(wdir), "--out", str(tmp_path / "o.jsonl")])
    assert {"compute": compute, "attach": attach}[cli].main(argv) == 2
    assert f"{bad}:5: field 'messages': expected a non-empty list" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "w2").exists()


def test_attached_weights_feed_the_density_reward(pointwise, tmp_path):
    """Without ms-swift: the attached column is what bt_pointwise_density reads as each pair's weight."""
    from grpo_bt_rm.rewards import BTRewardSettings, bt_rewards

    wdir = tmp_path / "w"
    assert compute.main(["--in", str(pointwise), "--out_dir", str(wdir), "--embedder", "hashing", "--k", "3"]) == 0
    out = tmp_path / "dw.jsonl"
    assert attach.main(["--in", str(pointwise), "--weights", str(wdir), "--out", str(out)]) == 0
    batch = rows(out)[-8:]  # 4 pairs, one completion per row
    res = bt_rewards("bt_pointwise_density", ["<s>70</s> fine", "<s>40</s> meh"] * 4,
                     pair_id=[r["pair_id"] for r in batch], side=[r["side"] for r in batch],
                     preferred_side=[r["preferred_side"] for r in batch], settings=BTRewardSettings(),
                     parser_name=[r["parser_name"] for r in batch],
                     density_weight=[r["density_weight"] for r in batch])
    assert res.weights == pytest.approx([r["density_weight"] for r in batch])
    assert len(set(res.weights)) > 1
