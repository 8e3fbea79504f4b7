"""One wrapper for every command-line entry point: logging set up once, input and settings errors as one line.

    def main(argv=None) -> int:
        args = build_argparser().parse_args(argv)          # usage errors: argparse's own exit 2
        return run_cli(lambda: command(EvalSettings.from_args(args)))

The command returns its report (a string, or None); `run_cli` prints it, and only it, on stdout. Logs go to
stderr. An `InputError`, `SettingsError` or registry `KeyError` becomes `error: <message>` on stderr and exit
code 2; `CommandFailed` carries its own exit code (a run that started but did not finish, e.g. a failed job).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping

from grpo_bt_rm.io import CLI_ERRORS, cli_error

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

class CommandFailed(Exception):
    """A command ran but did not succeed: its message is printed as `error: <message>`, the exit code is `code`.

    Args:
        message: one line (or a few) saying what failed and what to do.
        code: the process exit status (default 1).
        report: text still printed on stdout before the error (e.g. a summary of the jobs that did finish).
    """

    def __init__(self, message: str, code: int = 1, report: str | None = None):
        super().__init__(message)
        self.code = code
        self.report = report


def setup_logging(level: str | int = "INFO", quiet: Iterable[str] = ()) -> None:
    """Configure the root logger once (stderr, timestamped); later calls only change the level.

    Args:
        level: a logging level name ("INFO", "debug") or number.
        quiet: names of chatty third-party loggers to hold at WARNING.

    Raises:
        InputError: `level` is not a logging level name.
    """
    from grpo_bt_rm.io import InputError

    if isinstance(level, str):
        name = level.upper()
        if not isinstance(logging.getLevelName(name), int):
            raise InputError(f"--log_level {level!r}: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        level = name
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def run_cli(command: Callable[[], str | None], *, log_level: str | int = "INFO", quiet: Iterable[str] = (),
            errors: Mapping[type[BaseException], int] | None = None,
            redact: Callable[[str], str] | None = None) -> int:
    """Run a command's body as a CLI: set up logging, print its report, turn known errors into one line.

    Args:
        command: the body, called once with no arguments (build the stage's settings inside it, so a
            `SettingsError` is reported like any other bad input). Returns the report text, or None.
        log_level: root logging level (a name or number).
        quiet: third-party logger names held at WARNING.
        errors: further exception types reported as one line, with the exit code of each
            (e.g. `{FatalError: 1}`).
        redact: applied to every error message before it is printed (strips secrets).

    Returns:
        The exit code: 0 on success, 2 for `InputError` / `SettingsError` / `KeyError`, the mapped code for
        `errors`, `CommandFailed.code` for a failed run.
    """
    extra = dict(errors or {})
    clean = redact or (lambda s: s)
    try:
        setup_logging(log_level, quiet)
        report = command()
    except CommandFailed as e:
        if e.report:
            print(e.report)
        print(f"error: {clean(str(e))}", file=sys.stderr)
        return e.code
    except CLI_ERRORS as e:
        return cli_error(e, clean)
    except tuple(extra) as e:
        print(f"error: {clean(str(e))}", file=sys.stderr)
        return next(code for kind, code in extra.items() if isinstance(e, kind))
    if report:
        print(report)
    return 0
