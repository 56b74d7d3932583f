"""A recording of a batch, and scanning it whatever runs the batch: what the local worker
processes (`workers`) and Ray tasks (`ray_engine`) share."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ScanOptions
from .errors import MediaError, ReaderGone, SpeakerspotError
from .segments import BroadcastTimeCallback, ScanResult, Segment, SegmentCallback

if TYPE_CHECKING:  # a batch that scans nothing (all stored in its index) does not import torch
    from .model import SpeakerModel

logger = logging.getLogger(__name__)

PIPE_NOT_READ_AGAIN = "a pipe is read once, so it was not scanned again"


@dataclass(frozen=True)
class Recording:
    """A file to scan, the folder it was found under (for mirroring the tree in outputs), and in a capture of a
    whole multiplex scanned channel by channel, the channel (see `batch.every_programme`)."""

    path: Path
    root: Path
    programme: str | None = None

    def scan_options(self, options: ScanOptions) -> ScanOptions:
        """`options` as this recording is scanned with them: on its channel, where it is one."""
        return options if self.programme is None else replace(options, programme=self.programme)

    def failure(self, error: SpeakerspotError) -> SpeakerspotError:
        """`error` as this recording's failure: where it is a channel of a capture, naming the channel after the
        file (`monday.ts (ZDF): …`), as the capture's other channels may have been scanned."""
        if self.programme is None:
            return error
        return error.__class__(f"{error.path or self.path} ({self.programme})", error.problem)

    @property
    def relative(self) -> Path:
        return self.path.relative_to(self.root) if self.root != self.path else Path(self.path.name)

    @classmethod
    def as_scanned(cls, path: Path, relative: Path | None, root: Path | None) -> Recording:
        """The recording at `path` under the folder its scan was given, which `relative`, its path below that
        folder (as a results index stores it), tells; else under `root` (or alone, without one)."""
        count = len(relative.parts) if relative is not None else 0
        if count and path.parts[-count:] == relative.parts:
            return cls(path, Path(*path.parts[:-count]))
        return cls(path, root or path)


# Called with a recording, a model's name and a segment, as soon as the segment is decided (see `scan`).
RecordingSegmentCallback = Callable[[Recording, str, Segment], None]
# Called with a recording and when its 0:00 was broadcast, as soon as it is known (see `scan`).
RecordingBroadcastTimeCallback = Callable[[Recording, datetime.datetime], None]

# What scanning one recording gives: its results (one per model) or the error, and the wall seconds.
Outcome = tuple[list[ScanResult] | SpeakerspotError, float]


def scan_one(models: list[SpeakerModel], path: Path, options: ScanOptions, progress: bool = False,
             decoder_process: bool = True, on_segment: SegmentCallback | None = None,
             on_broadcast_time: BroadcastTimeCallback | None = None, keep_windows: bool = True) -> Outcome:
    """Scan one recording, turning any failure into an error naming the file (`on_segment`,
    `on_broadcast_time`, `keep_windows`: see `scan`)."""
    from .scanning import scan_many

    started = time.monotonic()
    try:
        results: list[ScanResult] | SpeakerspotError = scan_many(models, path, options, progress=progress,
                                                                 decoder_process=decoder_process,
                                                                 on_segment=on_segment,
                                                                 on_broadcast_time=on_broadcast_time,
                                                                 keep_windows=keep_windows)
    except MediaError as error:
        results = error
    except ReaderGone:
        raise
    except Exception as error:  # a bug or an unforeseen decoder failure must not stop the batch
        logger.debug("scanning %s failed:", path, exc_info=True)  # shown with --debug
        results = SpeakerspotError(path, f"unexpected error ({error.__class__.__name__}: {error}); "
                                         "rerun with --debug and report it")
    return results, time.monotonic() - started
