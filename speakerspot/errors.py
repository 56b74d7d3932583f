"""The errors a user can meet. Each names the file and the problem; the CLI maps them to exit codes."""

from __future__ import annotations

import errno as errno_codes
from pathlib import Path

LOG_FORMAT = "speakerspot: %(message)s"  # diagnostics on stderr, in the same voice as the errors


class SpeakerspotError(Exception):
    """Base of every error speakerspot raises on purpose; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self):  # so that errors cross from batch worker processes intact
        return self.__class__, (self.path, self.problem)


class DeviceError(SpeakerspotError):
    """A torch device this machine does not have, or a name that is not a device: a wrong option value."""

    exit_code = 2


class MediaError(SpeakerspotError):
    """A recording or clip that cannot be opened or decoded, or holds no usable audio."""

    exit_code = 3


class ModelFileError(SpeakerspotError):
    """A model file that is missing, damaged, or of a format version this release cannot read."""

    exit_code = 4


class TrainingDataError(SpeakerspotError):
    """Training clips that cannot make a model (none usable, too short, a clip in both classes)."""

    exit_code = 5


class OutputError(SpeakerspotError):
    """An output path that cannot be written; `errno` the system's reason, where there is one."""

    exit_code = 6

    def __init__(self, path: str | Path | None, problem: str, errno: int | None = None):
        super().__init__(path, problem)
        self.errno = errno

    @property
    def device_wide(self) -> bool:
        """Whether nothing more can be written there: the file system is full or read-only (else the problem
        is this path's: its name, a folder in its way)."""
        return self.errno in (errno_codes.ENOSPC, errno_codes.EDQUOT, errno_codes.EROFS)


class ReaderGone(BrokenPipeError):
    """Whoever read the lines a scan tells as it goes (`scan --live | head`) has stopped reading: the scan
    stops, as nothing it finds can be told, rather than fail as one recording of a batch."""
