"""Reading the user's files and writing ours: the one place for both.

Writes are atomic: a file appears whole or not at all. The data goes to a temporary file beside
the target (created with mode 0o666, so the process umask gives it the user's default permissions
without touching the umask), then `os.replace` moves it into place; a failure removes the
temporary file. `OutputBatch` extends this to several files: all are written to temporaries first
and renamed only when every one succeeded, so a failed plot never leaves its table behind.

Reads turn every way a file can be unusable (missing, a folder, unreadable, not UTF-8, not YAML)
into one `InputError` line that names the file.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from sparsecim.errors import InputError, one_line


# ---- reading ------------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str) -> bytes:
    """The bytes of a user's file; InputError naming `what` and the path on any problem."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a folder, not a file: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def read_text(path: str | Path, what: str) -> str:
    """A user's text file decoded as UTF-8 (a BOM is accepted)."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def load_yaml(path: str | Path, what: str):
    """A user's YAML file parsed with `yaml.safe_load` (plain data only, never objects)."""
    text = read_text(path, what)
    return parse_yaml(text, f"{what} {Path(path).name}")


def parse_yaml(text: str, where: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"{where}: not valid YAML{at} ({first})") from None


# ---- checking outputs before any work -----------------------------------------------------------


def check_output_file(path: str | Path, suffixes: tuple[str, ...], option: str = "output") -> Path:
    """Fail now (InputError) if `path` cannot be written later: wrong suffix, missing or non-folder
    parent, an existing folder in its place, a name or path too long, or a folder we cannot write into."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{option} must end in {' or '.join(suffixes)}, got {path.name!r}")
    _check_lengths(path, option)
    check_output_folder(path.parent, option, create=False)
    if _kind(path, option) == "folder":
        raise InputError(f"{option} {path} is an existing folder; give a file name")
    return path


def check_output_folder(folder: str | Path, option: str = "output folder", create: bool = True) -> Path:
    """Fail now if files cannot be created in `folder`. With `create`, a missing folder is created to
    probe it and removed again (the writer creates it when it writes: nothing is left on an error)."""
    folder = Path(folder)
    _check_lengths(folder, option)
    kind = _kind(folder, option)
    if kind == "file":
        raise InputError(f"{option}: {folder} is a file, not a folder")
    created: list[Path] = []
    if kind is None:
        missing = [folder, *(p for p in folder.parents)]
        existing = next(p for p in missing if _kind(p, option) is not None)
        if _kind(existing, option) == "file":
            raise InputError(f"{option}: {existing} is a file, not a folder")
        if not create:
            raise InputError(f"{option}: folder does not exist: {folder}")
        created = [p for p in missing[: missing.index(existing)]]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _remove_folders(created)
            raise InputError(f"{option}: cannot create folder {folder}: {exc.strerror or exc}") from None
    probe = folder / f".sparsecim-probe-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb") as handle:  # a real write: catches read-only mounts and full disks
            handle.write(b"0")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise InputError(f"{option}: cannot write into {folder}: {exc.strerror or exc}") from None
    finally:
        probe.unlink(missing_ok=True)
        _remove_folders(created)
    return folder


def _kind(path: Path, option: str) -> str | None:
    """"file", "folder" or None (absent), without raising on odd paths."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # a parent is a file
        return None
    except OSError as exc:
        raise InputError(f"{option}: cannot use {str(path)[:80]}: {exc.strerror or exc}") from None
    return "folder" if stat.S_ISDIR(mode) else "file"


def _check_lengths(path: Path, option: str) -> None:
    """Each name at most NAME_MAX bytes and the whole path at most PATH_MAX (before any stat: those raise)."""
    existing = next((p for p in [path, *path.parents] if len(str(p)) < 4096 and _exists_quietly(p)), Path("."))
    name_max = _name_max(existing if existing.is_dir() else existing.parent)
    for part in path.parts:
        if len(part.encode()) > name_max:
            what = "file name" if part == path.name else "folder name"
            raise InputError(f"{option} {what} is longer than {name_max} bytes: {part[:40]}...")
    path_max = _path_max()
    if len(str(path.absolute()).encode()) >= path_max:
        raise InputError(f"{option} path is longer than {path_max} bytes: {str(path)[:40]}...")


def _exists_quietly(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _remove_folders(folders: list[Path]) -> None:
    """Remove folders this process created (innermost first) if they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder if folder.exists() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _path_max() -> int:
    try:
        return os.pathconf(".", "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096


# ---- writing ------------------------------------------------------------------------------------


def _temporary_beside(path: Path) -> tuple[Path, int]:
    """A new file beside `path` (mode 0o666 under the umask), opened for writing; a missing parent
    folder is created (check_output_folder probes a new folder and removes it again)."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        temp = path.parent / f".{path.name[:200]}.{secrets.token_hex(4)}.tmp"
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file beside {path}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    temp, handle = _temporary_beside(path)
    os.close(handle)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes, fsync: bool = False) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; a failure is one InputError line
    ("cannot write ...") and leaves nothing behind."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        temp, handle = _temporary_beside(path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or one_line(exc)}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or one_line(exc)}") from None
    finally:
        temp.unlink(missing_ok=True)
    return path


class OutputBatch:
    """Several output files that appear together or not at all.

    >>> with OutputBatch() as out:                     # doctest: +SKIP
    ...     out.text("table.csv", csv_text)
    ...     out.figure("plot.png", fig)

    Each file is written to a temporary beside its target as it is added; leaving the block
    without an error renames them all into place. Any error removes every temporary and becomes
    one InputError line naming the file ("cannot write ...")."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def __enter__(self) -> "OutputBatch":
        return self

    def _add(self, path: str | Path, write) -> Path:
        path = Path(path)
        try:
            temp, handle = _temporary_beside(path)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or one_line(exc)}") from None
        self._pending.append((temp, path))
        try:
            write(handle, temp)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or one_line(exc)}") from None
        return path

    def text(self, path: str | Path, text: str) -> Path:
        return self.data(path, text.encode("utf-8"))

    def data(self, path: str | Path, payload: bytes) -> Path:
        def write(handle, _temp):
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)

        return self._add(path, write)

    def figure(self, path: str | Path, fig, dpi: int = 120) -> Path:
        """A matplotlib `Figure` as PNG."""

        def write(handle, temp):
            os.close(handle)
            fig.savefig(temp, dpi=dpi, format="png")

        return self._add(path, write)

    def with_writer(self, path: str | Path, writer) -> Path:
        """`writer(temp_path)` writes the file (e.g. pandas to_parquet)."""

        def write(handle, temp):
            os.close(handle)
            writer(temp)

        return self._add(path, write)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                for temp, path in self._pending:
                    os.replace(temp, path)
            except OSError as error:
                self._discard()
                raise InputError(f"cannot write {path}: {error.strerror or one_line(error)}") from None
        self._discard()

    def _discard(self) -> None:
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        self._pending.clear()


def write_outputs(files: dict[str | Path, str | bytes]) -> list[Path]:
    """Write several text/bytes files as one batch (all or none)."""
    with OutputBatch() as out:
        for path, content in files.items():
            out.data(path, content.encode("utf-8") if isinstance(content, str) else content)
    return [Path(p) for p in files]
