"""Atomic writes, JSONL reading with file/line errors, hashing and provenance manifests.

    with atomic_write(path) as f: f.write(...)   # nothing appears at `path` unless the block succeeds
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from grpo_bt_rm import __version__


class InputError(ValueError):
    """Bad user input: the message names the file, line and field (or variable) and what was expected."""


class SettingsError(InputError):
    """A stage's settings are invalid: the message names the flag (or variable) and what was expected.

    A kind of InputError (bad input, from the command line rather than a file), so callers that catch input
    errors catch it too."""


def where(path: str | os.PathLike, line: int | None = None, field: str | None = None) -> str:
    """A location for error messages: `path`, then `:line` and `: field 'name'` when given.

    >>> where("data.jsonl", 3, "messages")
    "data.jsonl:3: field 'messages'"
    """
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if field is not None:
        loc += f": field {field!r}"
    return loc


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask would race with threads)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give a temp file (mkstemp: 0600) or dir (mkdtemp: 0700) the mode a plain open()/mkdir() would have."""
    os.chmod(path, mode & ~current_umask())


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[TextIO]:
    """Write to a temp file in the same directory, fsync, then rename over `path`. On error nothing is left."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        honour_umask(tmp)
        kwargs = {"encoding": encoding} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Fill a temp directory beside `path`, then swap it in (replacing an old `path`). On error nothing is left."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        honour_umask(tmp, 0o777)
        yield tmp
        old = None
        if path.exists():  # rename the old one aside first: at no moment is `path` half old, half new
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_with_manifest(path: str | os.PathLike, write: Callable[[TextIO], None],
                        manifest: Callable[[Path], dict], manifest_path: str | os.PathLike | None = None) -> dict:
    """Write a data file and its manifest as one unit: `write(f)` fills a temp file, then `manifest(temp_path)`
    builds the manifest (hash the temp file: it is what lands at `path`), also to a temp file. Only when both are
    complete are they renamed into place, the manifest first, so data never appears without its manifest. On
    error (a full disk included) nothing new is left and an old `path` is untouched. Returns the manifest."""
    path = Path(path)
    manifest_path = Path(manifest_path or f"{path}.manifest.json")
    with contextlib.ExitStack() as stack:
        data_tmp = stack.enter_context(_pending(path, write))
        meta = manifest(data_tmp)
        meta_tmp = stack.enter_context(_pending(manifest_path, lambda f: f.write(
            json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")))
        os.replace(meta_tmp, manifest_path)
        os.replace(data_tmp, path)
    return meta


@contextlib.contextmanager
def _pending(path: Path, write: Callable[[TextIO], Any]) -> Iterator[Path]:
    """A complete, fsynced temp file beside `path` (removed on exit unless renamed away)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        honour_umask(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON atomically (temp file + rename); unknown types via `str`."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read `chunk` bytes (default 1 MiB) at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def open_text(path: str | os.PathLike) -> TextIO:
    """Open a UTF-8 text file for reading, decompressing it on the fly when the name ends in `.gz`."""
    path = str(path)
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _not_utf8(path: str | os.PathLike, lineno: int, raw: bytes, e: UnicodeDecodeError) -> InputError:
    return InputError(f"{where(path, lineno)}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str | InputError]]:
    """Yield (line_number, text) for every line (plain or .gz); a line that is not UTF-8 comes as an InputError
    naming file, line and column, so a caller can stop on it or skip and count it."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, _not_utf8(path, lineno, raw, e)


def read_text(path: str | os.PathLike) -> str:
    """A whole file as UTF-8 text (plain or .gz); bad bytes raise InputError naming the file and line."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        e.start -= start
        raise _not_utf8(path, data.count(b"\n", 0, start) + 1, data[start:], e) from None


def iter_jsonl(path: str | os.PathLike, on_bad=None) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line. A bad line (not UTF-8, not JSON, not an object) raises
    InputError naming file and line; with `on_bad`, it is passed to `on_bad(error)` and skipped instead."""
    for lineno, line in iter_lines(path):
        try:
            if isinstance(line, InputError):
                raise line
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{where(path, lineno)}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where(path, lineno)}: expected a JSON object, got {type(obj).__name__}")
        except InputError as e:
            if on_bad is None:
                raise
            on_bad(e)
            continue
        yield lineno, obj


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All JSON objects of a JSONL file as a list (see `iter_jsonl` for what it skips and raises)."""
    return [obj for _, obj in iter_jsonl(path)]


def write_jsonl(path: str | os.PathLike, rows) -> int:
    """Write `rows` as JSON lines atomically (non-ASCII kept as is); returns the number of rows written."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def append_jsonl(path: str | os.PathLike, rows: Iterable[Any], *, fsync: bool = False) -> int:
    """Append `rows` to a JSONL file as one write() on an O_APPEND descriptor, so lines that several processes
    append at once never interleave (the one way this package appends to JSONL: reward dumps, teacher results).

    A torn last line (a crash mid-write) is ended with a newline first, so the new lines stay parseable.

    Args:
        path: the JSONL file (created, with the process umask, when missing).
        rows: JSON-serialisable objects (others are written with `str`), one line each.
        fsync: flush the file to disk before returning.

    Returns:
        The number of lines appended.
    """
    lines = [json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows]
    if not lines:
        return 0
    data = "".join(lines).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return len(lines)


def manifest_base(**extra: Any) -> dict:
    """Common provenance fields for every manifest."""
    return {"package": "grpo_bt_rm", "package_version": __version__, **extra}


# Errors a CLI reports as one clean line (exit code 2) instead of a traceback: bad input, bad settings, and
# registry lookups (whose KeyError message lists the valid names). See grpo_bt_rm.cli.run_cli.
CLI_ERRORS = (InputError, SettingsError, KeyError)


def cli_error(e: BaseException, clean: Callable[[str], str] | None = None) -> int:
    """Print `error: <message>` to stderr and return the CLI exit code 2.

    Args:
        e: the error; a KeyError's message is its first argument (str() would quote it).
        clean: applied to the message first (e.g. to redact secrets).

    Returns:
        2, the exit code of a usage or input error.
    """
    import sys

    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    print(f"error: {clean(str(msg)) if clean else msg}", file=sys.stderr)
    return 2
