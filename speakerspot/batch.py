"""Scan many recordings with many models: discovery, per-file error isolation, outputs, a summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .audio import media_files
from .errors import MediaError
from .model import SpeakerModel
from .scanning import ScanResult, scan_many


@dataclass(frozen=True)
class Recording:
    """A file to scan, and the folder it was found under (for mirroring the tree in outputs)."""

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        return self.path.relative_to(self.root) if self.root != self.path else Path(self.path.name)


@dataclass
class BatchSummary:
    """What a batch did: files scanned and failed (with their errors), audio seconds, wall seconds."""

    scanned: int = 0
    failures: list[MediaError] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def speed(self) -> float:
        """Audio seconds per wall second (x real time)."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


def find_recordings(paths: Iterable[str | Path], patterns: tuple[str, ...] = ()) -> list[Recording]:
    """Files as given, and media files found recursively under folders, in a stable order.

    A path that does not exist is kept, so that scanning it reports it like any other failure.
    """
    recordings = []
    for given in map(Path, paths):
        if given.is_dir():
            recordings += [Recording(p, given) for p in media_files(given, patterns)]
        else:
            recordings.append(Recording(given, given))
    return recordings


def scan_batch(models: list[SpeakerModel], recordings: list[Recording],
               on_results: Callable[[Recording, list[ScanResult]], None],
               on_failure: Callable[[MediaError], None] = lambda error: None, *, threshold: float | None = None,
               audio_track: int | None = None, language: str | None = None,
               progress: bool = False) -> BatchSummary:
    """Scan every recording with every model, handing each recording's results to `on_results`.

    A recording that cannot be scanned goes to `on_failure` and into the summary; the batch goes on.
    """
    summary = BatchSummary()
    started = time.monotonic()
    single = len(recordings) == 1
    with tqdm(recordings, desc="recordings", unit="file", disable=not progress or single, leave=False) as bar:
        for recording in bar:
            try:
                results = scan_many(models, recording.path, threshold=threshold, audio_track=audio_track,
                                    language=language, progress=progress and single)
                on_results(recording, results)
            except MediaError as error:
                on_failure(error)
                summary.failures.append(error)
                continue
            summary.scanned += 1
            summary.audio_seconds += results[0].duration
    summary.wall_seconds = time.monotonic() - started
    return summary
