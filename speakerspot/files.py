"""Writing output files so that a crash or Ctrl-C never leaves a half-written one."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import OutputError


def check_writable(path: str | Path) -> Path:
    """`path`, if a file can be written there; else an OutputError, raised before long work (training,
    a scan) whose result could not be kept."""
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(path, f"directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(path, f"cannot write: directory {path.parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; rename it to `path` only on success.

    Temporaries of `path` that writers killed on this host left behind (a batch killed while it wrote
    its outputs) are removed once `path` is written."""
    path = check_writable(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path, os.getpid()),
                                                 suffix=".tmp")
    except OSError as error:
        raise OutputError(path, f"cannot write: {error.strerror}", error.errno) from None
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; give what open() would
        # A file name that is not UTF-8 is written as its bytes (as on stdout; see `cli.main`).
        text = {"encoding": "utf-8", "errors": "surrogateescape"}
        with os.fdopen(descriptor, mode, **({} if "b" in mode else text)) as file:
            yield file
        os.replace(temporary, path)
        remove_temporaries_of_ended_writers(path)
    except OSError as error:
        raise OutputError(path, f"cannot write: {error.strerror}", error.errno) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


NAME_MAX = 255  # bytes of a file name: ext4, XFS, Btrfs, tmpfs (NTFS and SMB: 255 characters)


def fitted_name(name: str, suffix: str, limit: int = NAME_MAX) -> str:
    """`name + suffix` as a file name, where it is longer than `limit` bytes (a recording named at length
    fits, its outputs' `.MODEL.EXT` do not, and each failed the batch there) cut short and marked with a
    hash of `name`, so that names alike up to the cut stay apart."""
    if len(os.fsencode(name + suffix)) <= limit:
        return name + suffix
    tag = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    budget = limit - len(os.fsencode(tag + suffix))
    while name and len(os.fsencode(name)) > budget:  # whole characters
        name = name[:-1]
    return name + tag + suffix


def valid_text(text: str) -> str:
    """`text` with the bytes of a file name that are not UTF-8 (a Latin-1 name) shown as U+FFFD, as a browser
    shows them: for a page, which is UTF-8 throughout, and a picture's fonts, which have no glyph for them."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def temporary_prefix(path: Path, pid: int) -> str:
    """How the temporaries of `path` that process `pid` of this host writes begin."""
    return f"{host_prefix(path)}{pid}."


def host_prefix(path: Path) -> str:
    """How the temporaries of `path` written on this host begin, up to the writer's process id. The
    host is named because an output folder may be shared by several machines (a batch on Ray),
    whose process ids say nothing here."""
    host = socket.gethostname()
    # and after it a process id (7 digits at most), "." and mkstemp's 8 characters, ".tmp": within NAME_MAX
    return f".{fitted_name(path.name, '', NAME_MAX - 23 - len(os.fsencode(host)))}.{host}-"


def remove_temporaries_of_ended_writers(path: Path) -> None:
    """Remove the temporaries of `path` whose writing process, of this host, is gone."""
    prefix = host_prefix(path)
    for temporary in path.parent.glob(glob.escape(prefix) + "*.tmp"):
        pid = temporary.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):  # another writer removed it first
                temporary.unlink()


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (on Windows, where signal 0 would end it, assumed so)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
