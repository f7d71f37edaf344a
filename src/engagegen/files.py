"""Reading users' files and writing results: the one place for both, used by every package.

Reading: :func:`read_text` (UTF-8, a byte-order mark dropped, errors naming the file and line),
:func:`csv_records` (a header row, then dicts; field-size limit with a clear error),
:func:`jsonl_records` and :func:`read_npz` (a truncated or corrupt archive named as such).

Writing: :func:`check_output` vets a destination before any work is done (not a folder when a
file is wanted, a writable place, not one of the inputs, no overwrite without ``force``);
:func:`atomic_write_text`, :func:`atomic_write_bytes` and :func:`atomic_path` write through a
temporary file beside the target and rename it, so a reader never sees half a file. Finished files
get the usual mode (``0o666`` less the umask, or the mode of the file they replace). Temporary files
are named ``.NAME.~engagegen.HOST.PID.XXXX`` and those of a writer that died (``kill -9``) are
removed by the next write into the folder.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "posts.csv").write_bytes(b"\\xef\\xbb\\xbftext,author\\nHello,1\\n")
>>> header, rows = csv_records(d / "posts.csv")
>>> header, rows[0].line, rows[0].fields["text"]
(['text', 'author'], 2, 'Hello')
>>> atomic_write_text(d / "out.txt", "done\\n").read_text()
'done\\n'
>>> check_output(d / "out.txt")
Traceback (most recent call last):
...
engagegen.files.OutputError: ...out.txt: already exists; pass --force to overwrite it
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import socket
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engagegen.errors import EngagegenError

__all__ = [
    "InputFileError",
    "OutputError",
    "read_text",
    "csv_records",
    "CsvRecord",
    "jsonl_records",
    "read_npz",
    "strip_bom",
    "check_output",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_path",
    "atomic_open",
    "sweep_stale_temp_files",
    "MAX_FIELD_CHARS",
]

# One CSV field may hold this many characters (Python's own default, 131,072, is short for long posts).
MAX_FIELD_CHARS = 16 * 1024 * 1024
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
# Where nothing can be written as a file, whatever the permissions say.
_VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
_TEMP_MARK = ".~engagegen."
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


class InputFileError(EngagegenError, ValueError):
    """A file that cannot be read as asked; the message names the file (and line)."""


class OutputError(EngagegenError, ValueError):
    """A destination engagegen will not write to; the message says why and how to proceed."""


# ------------------------------------------------------------------------------------------ reading


def _existing_file(path: Path) -> Path:
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, expected a file")
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    return path


def strip_bom(data: bytes, path: str | os.PathLike) -> bytes:
    """``data`` without a UTF-8 byte-order mark; UTF-16/32 text is refused with the path."""
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise InputFileError(f"{path}: the file is {name} text; save it as UTF-8")
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _decode(data: bytes, path: Path) -> str:
    data = strip_bom(data, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputFileError(f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                             f"{column}); save the file as UTF-8") from None


def read_text(path: str | os.PathLike, *, max_bytes: int | None = None, what: str = "file") -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped; ``\\r\\n`` kept).

    ``max_bytes`` refuses larger files before reading them; ``what`` names the file in that message.
    """
    path = _existing_file(Path(path))
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise InputFileError(f"{path}: {path.stat().st_size:,} bytes; a {what} may hold at most {max_bytes:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    return _decode(data, path)


@dataclass(frozen=True)
class CsvRecord:
    """One data row of a CSV file: the file line it starts on and its fields by column name."""

    line: int
    fields: dict[str, str]


def csv_records(path: str | os.PathLike, *, delimiter: str | None = None) -> tuple[list[str], list[CsvRecord]]:
    """The header and data rows of a CSV file with a header row.

    ``delimiter`` defaults to a tab for ``.tsv`` files and a comma otherwise. A row with more or
    fewer fields than the header, a field longer than :data:`MAX_FIELD_CHARS`, an unreadable byte
    or an empty or duplicate column name raise :class:`InputFileError` naming the line.
    """
    path = Path(path)
    text = read_text(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InputFileError(f"{path}: the file is empty (a header row naming the columns is required)")
        header = [h.strip() for h in header]
        for i, name in enumerate(header):
            if not name:
                raise InputFileError(f"{path}, line 1: column {i + 1} of the header has no name")
            if name in header[:i]:
                raise InputFileError(f"{path}, line 1: column {name!r} appears twice in the header")
        rows = []
        start = reader.line_num + 1
        for fields in reader:
            if not fields:  # a blank line
                start = reader.line_num + 1
                continue
            if len(fields) != len(header):
                raise InputFileError(f"{path}, line {start}: {len(fields)} field(s), but the header has "
                                     f"{len(header)} ({', '.join(header)})")
            rows.append(CsvRecord(start, dict(zip(header, fields))))
            start = reader.line_num + 1
    except csv.Error as exc:
        where = f"{path}, line {reader.line_num}"
        if "field larger than field limit" in str(exc):
            raise InputFileError(f"{where}: a field longer than {MAX_FIELD_CHARS:,} characters; is a quote "
                                 "left open above it?") from None
        raise InputFileError(f"{where}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(previous)
    return header, rows


def jsonl_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for every non-blank line of a JSON Lines file; each line must be one object."""
    path = Path(path)
    for line, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}, line {line}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputFileError(f"{path}, line {line}: JSON nested too deeply") from None
        if not isinstance(obj, dict):
            raise InputFileError(f"{path}, line {line}: expected a JSON object, got {type(obj).__name__}")
        yield line, obj


def read_npz(path: str | os.PathLike, *, what: str = "file") -> dict[str, Any]:
    """Every array of an ``.npz`` archive, never unpickling; a truncated or corrupt file is named as such."""
    import numpy as np

    path = _existing_file(Path(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputFileError(f"{path}: the {what} is truncated or corrupt ({exc}); write it again") from None
    except (ValueError, OSError) as exc:
        raise InputFileError(f"{path}: not a {what} written by engagegen ({exc})") from None


# ------------------------------------------------------------------------------------------ output policy


def _inside_virtual_fs(path: Path) -> bool:
    return any(path == root or root in path.parents for root in _VIRTUAL_ROOTS)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: str | os.PathLike,
    *,
    force: bool = False,
    inputs: Sequence[str | os.PathLike | None] = (),
    suffixes: Sequence[str] = (),
    folder: bool = False,
    files: Sequence[str] = (),
    option: str = "--out",
) -> Path:
    """Vet a destination before any work: raise :class:`OutputError` or return the path.

    A file destination (``folder=False``) must not be a folder, must end in one of ``suffixes``
    (when given) and must not exist unless ``force``. A folder destination must not be a file and,
    unless ``force``, must be empty or absent; ``files`` are the names that will be written into it.
    Either way the destination (or a file written into the folder) may never be one of ``inputs``,
    even with ``force``, and the nearest existing parent must be a writable folder outside
    ``/proc``, ``/sys`` and ``/dev``. ``option`` names the command-line option in messages.
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise OutputError(f"{option}: give a {'folder' if folder else 'file'} name")
    absolute = Path(os.path.abspath(path))
    if _inside_virtual_fs(absolute) or (absolute.exists() and _inside_virtual_fs(absolute.resolve())):
        raise OutputError(f"{path}: cannot write into {absolute.parts[0]}{absolute.parts[1]} (a system folder); "
                          f"choose another {option}")
    targets = [path / name for name in files] if folder else [path]
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        for target in targets:
            if _same_file(source, target) or Path(os.path.abspath(source)) == Path(os.path.abspath(target)):
                raise OutputError(f"{target}: is also an input of this command; write the result elsewhere "
                                  f"(choose another {option})")
    if folder:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: exists and is a file; {option} takes a folder")
        if path.is_dir() and not force and any(path.iterdir()):
            raise OutputError(f"{path}: the folder exists and is not empty; pass --force to write into it "
                              f"(files of the same name are replaced)")
    else:
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; {option} takes a file name")
        if suffixes and path.suffix.lower() not in suffixes:
            raise OutputError(f"{path}: {option} must end in {' or '.join(suffixes)}")
        if path.exists() and not force:
            raise OutputError(f"{path}: already exists; pass --force to overwrite it")
    parent = absolute if folder else absolute.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is a file, so nothing can be written under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the folder {parent} is not writable")
    return path


# ------------------------------------------------------------------------------------------ atomic writes


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it; set back at once
    os.umask(mask)
    return mask


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TEMP_MARK}{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{path.suffix}")


_STALE_RE = re.compile(rf"^\..+{re.escape(_TEMP_MARK)}{re.escape(_HOST)}\.(\d+)\.[0-9a-f]{{8}}(\.[^.]*)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers on this host left in ``folder`` when they died; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STALE_RE.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends cleanly,
    removed when it raises. The temporary name keeps ``path``'s suffix (for writers that read it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temp_files(path.parent)
    tmp = _temp_name(path)
    try:
        yield tmp
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """An open temporary file (``"w"``: UTF-8 text, ``"wb"``: bytes) that replaces ``path`` when the block ends."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes with mode 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as fh:  # noqa: SIM115
            yield fh


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename, so readers never see half a file."""
    return atomic_write_bytes(path, text.encode("utf-8"))
