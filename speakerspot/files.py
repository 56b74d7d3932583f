"""Writing output files so that a crash or Ctrl-C never leaves a half-written one."""

from __future__ import annotations

import contextlib
import os
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
    """Open a temporary file beside `path` for writing; rename it to `path` only on success."""
    path = check_writable(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(path, f"cannot write: {error.strerror}") from None
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError(path, f"cannot write: {error.strerror}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
