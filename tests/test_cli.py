"""run_cli: the report alone on stdout, known errors as one `error:` line on stderr with their exit code."""

from __future__ import annotations

import logging

import pytest

from grpo_bt_rm.cli import CommandFailed, run_cli, setup_logging
from grpo_bt_rm.io import InputError, SettingsError


class _Fatal(Exception):
    pass


def _raise(e: BaseException):
    def body():
        raise e

    return body


@pytest.mark.parametrize("error, message", [
    (InputError("data.jsonl:3: field 'x': expected a number"), "data.jsonl:3: field 'x': expected a number"),
    (SettingsError("--n_boot 0: expected an integer >= 1"), "--n_boot 0: expected an integer >= 1"),
    # a registry's KeyError: its message, not the quoted repr str(KeyError) gives
    (KeyError("unknown prompt 'x'; valid: a, b"), "unknown prompt 'x'; valid: a, b"),
])
def test_known_errors_are_one_line_and_exit_2(capsys, error, message):
    assert run_cli(_raise(error)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {message}\n"


def test_report_alone_on_stdout(capsys):
    assert run_cli(lambda: "acc=0.75\nresult: r.json") == 0
    assert capsys.readouterr().out == "acc=0.75\nresult: r.json\n"
    assert run_cli(lambda: None) == 0 and capsys.readouterr().out == ""


def test_mapped_errors_redaction_and_failed_runs(capsys):
    assert run_cli(_raise(_Fatal("key sk-123 refused")), errors={_Fatal: 1},
                   redact=lambda s: s.replace("sk-123", "***")) == 1
    assert capsys.readouterr().err == "error: key *** refused\n"
    assert run_cli(_raise(CommandFailed("1 of 2 jobs failed", code=1, report="summary"))) == 1
    out, err = capsys.readouterr()
    assert out == "summary\n" and err == "error: 1 of 2 jobs failed\n"


def test_other_errors_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_cli(lambda: 1 / 0)


def test_bad_log_level_is_an_input_error(capsys):
    assert run_cli(lambda: "never", log_level="loud") == 2
    assert "--log_level 'loud'" in capsys.readouterr().err
    setup_logging("debug", quiet=["chatty.lib"])
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("chatty.lib").level == logging.WARNING
    setup_logging("INFO")
