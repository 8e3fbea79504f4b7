"""bench/tie_break_probe.py: finding the score's digit tokens in a decoded answer, and its input errors."""

from __future__ import annotations

from tests.script_module import load_script


def load_probe():
    return load_script("bench/tie_break_probe.py")


def test_digit_positions_finds_the_score_digits_right_after_the_tag():
    pos = load_probe().digit_positions
    # digits in the check line before the tag are not the score
    pieces = ["names", " 7", ";", " yes", ".\n", "<", "s", ">", "8", "1", "</", "s", ">"]
    assert pos(pieces) == [8, 9]
    assert pos(["<s>", "4", "2", "</s>"]) == [1, 2]
    assert pos(["<", "s", ">", "8", "</", "s", ">"]) == [3]                # one digit
    assert pos(["<s>", "1", "0", "0", "</s>"]) == [1, 2, 3]
    assert pos(["<", "s", ">", "8", " ", "1", "</", "s", ">"]) == [3]      # only the digits next to each other


def test_digit_positions_rejects_answers_without_a_score():
    pos = load_probe().digit_positions
    assert pos(["no", " tag", " 88"]) is None
    assert pos(["<", "s", ">", "</", "s", ">"]) is None
    assert pos(["<s>", "1", "2", "3", "4", "</s>"]) is None  # more digits than a 0-100 score has


def test_a_directory_that_is_not_a_demo_is_a_clear_error(tmp_path, capsys):
    assert load_probe().main(["--demo", str(tmp_path), "--checkpoint", "x"]) == 2
    assert f"{tmp_path}/settings.env: missing" in capsys.readouterr().err
    (tmp_path / "settings.env").write_text("PROMPT=generic_score100_check\n")
    assert load_probe().main(["--demo", str(tmp_path), "--checkpoint", "x", "--split", "test"]) == 2
    assert f"{tmp_path}/raw/test.jsonl: missing" in capsys.readouterr().err
