"""Scan many recordings with many models: discovery, a results index to resume from, the recordings
scanned by worker processes here (`workers`) or by Ray tasks (`ray_engine`), per-file error
isolation, results in order and a summary."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .audio import programmes_with_audio, recording_facts
from .config import ScanOptions
from .errors import SpeakerspotError
from .media_files import is_media, readable_once, recording_path, same_file_key, visible_files
from .recordings import Recording, RecordingBroadcastTimeCallback, RecordingSegmentCallback
from .results_index import FileState, ResultsIndex
from .segments import ScanResult
from .sidecars import recorder_start
from .split_recordings import VDR_DELETED_SUFFIX, VDR_FILE, is_vdr_recording, unread_vdr_files
from .workers import scan_here, scan_in_workers
from .writers import write_or_fail

if TYPE_CHECKING:  # reading a results index and writing its outputs do not need torch
    from .model import SpeakerModel

log = logging.getLogger(__name__)
SEARCH_BAR_DELAY_SECONDS = 2.0


@dataclass
class BatchSummary:
    """What a batch did: files scanned, skipped (unchanged, from the index) and failed (with their
    errors), seconds of audio scanned, wall seconds."""

    scanned: int = 0
    skipped: int = 0
    failures: list[SpeakerspotError] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def speed(self) -> float:
        """Audio seconds scanned per wall second (x real time)."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


def find_recordings(paths: Iterable[str | Path], patterns: tuple[str, ...] = (),
                    progress: bool = False) -> list[Recording]:
    """Files as given, and media files found recursively under folders, in a stable order, each once.
    With `progress`, a bar counts the files looked at where a folder's walk takes more than
    SEARCH_BAR_DELAY_SECONDS (/usr's 117,000 files took 8.6 s here; an archive on a network share longer).

    A path that does not exist is kept, so that scanning it reports it like any other failure.
    "-" is the standard input (a capture piped in), read as a pipe is. In a folder, the segments an HLS
    playlist lists are one recording, the playlist (see `with_playlists`), and the files of a VDR recording
    one, its folder (see `split_recordings`).
    """
    recordings: dict[Path | tuple[int, int], Recording] = {}  # a file reached twice is scanned once
    linked: list[tuple[Path, Path]] = []  # (path, the path of the same file found first)
    for given in map(recording_path, paths):
        if given.is_dir() and not is_vdr_recording(given):
            with tqdm(desc=f"searching {given}", unit=" files", delay=SEARCH_BAR_DELAY_SECONDS, leave=False,
                      disable=not progress) as bar:
                files = visible_files(given, bar.update)  # walked once: the media files, and the playlists beside them
            found = with_vdr_recordings(
                with_playlists([Recording(p, given) for p in files if is_media(p, patterns)],
                               [p for p in files if p.suffix.lower() == ".m3u8"], given, patterns),
                [p for p in files if VDR_FILE.fullmatch(p.name) and (not patterns or is_media(p, patterns))], given)
        else:
            found = [Recording(given, given)]
            if given.suffix.lower() == ".m3u8":
                warn_of_missing_segments(given, playlist_segments(given))
        for recording in found:
            kept = recordings.setdefault(same_file_key(recording.path), recording)
            if kept.path.absolute() != recording.path.absolute():
                linked.append((recording.path, kept.path))
            if is_vdr_recording(recording.path) and (unread := unread_vdr_files(recording.path)):
                names = ", ".join(file.name for file in unread[:3]) + (", …" if len(unread) > 3 else "")
                log.warning("%s: %s follow%s a missing file: not read (VDR plays up to the gap too)", recording.path,
                            names, "s" if len(unread) == 1 else "")
    if linked:
        (path, first), more = linked[0], len(linked) - 1
        log.warning("%s: the same file as %s (a link)%s: scanned once, under the name found first", path,
                    first, f", and {more} more reached twice so" if more else "")
    return list(recordings.values())


def shard_of(recordings: list[Recording], number: int, count: int) -> list[Recording]:
    """The recordings of share `number` (1 to `count`) of `count`: a batch shared among machines that reach the
    same archive, each scanning one share into an index of its own (`scan --shard 2/3`), with no cluster. A
    recording's share is picked by a hash of its path below the folder it was found in (`Recording.relative`),
    so that machines that mount the archive at different paths share it alike, and a recording keeps its share
    as others come and go."""
    if not 1 <= number <= count:
        raise ValueError(f"share {number} of {count}: the share is a number from 1 to {count}")
    return [recording for recording in recordings
            if int.from_bytes(hashlib.sha256(recording.relative.as_posix().encode()).digest()[:8]) % count
            == number - 1]


def every_programme(recordings: list[Recording], progress: bool = False,
                    index: ResultsIndex | None = None) -> list[Recording]:
    """`recordings` with each capture of a whole multiplex in place of its channels that carry audio, each a
    recording of its own, scanned on that channel's track as `--programme` picks it (`scan --every-programme`);
    a recording of one programme, one that cannot be read (its scan says why) and a pipe (read once, by its scan),
    as it is. A capture's channels are read from its tables, at its start; a channel whose tracks sent nothing
    FFmpeg could decode there nor further in (off air, or encrypted; see `audio.programmes_with_audio`) is passed
    over, with a warning (scanned, it failed, and was tried again by every rerun). With an `index`, a capture's
    channels are stored there, and read from it while the capture is unchanged (a rerun of an archive read every
    capture's start again, some 25 MiB of it). `progress` shows a bar where listing them takes more than
    SEARCH_BAR_DELAY_SECONDS."""
    channels: list[Recording] = []
    for recording in tqdm(recordings, desc="listing channels", unit=" files", delay=SEARCH_BAR_DELAY_SECONDS,
                          leave=False, disable=not progress):
        heard = {}
        with contextlib.suppress(SpeakerspotError, OSError):  # unreadable, or gone: its scan says why
            heard = {} if readable_once(recording.path) else channels_of(recording.path, index)
        if silent := [name for name, sent in heard.items() if not sent]:
            log.warning("%s: %s sent no audio FFmpeg could decode at its start, nor a quarter, half or three "
                        "quarters of the way in (off air, or encrypted): not scanned; --programme scans a channel "
                        "on air at other times", recording.path, ", ".join(silent))
        channels += [replace(recording, programme=name) for name, sent in heard.items() if sent] or [recording]
    return channels


def channels_of(path: Path, index: ResultsIndex | None) -> dict[str, bool]:
    """`audio.programmes_with_audio(path)`, from `index` where it holds them of the recording as it is now."""
    if index is None:
        return programmes_with_audio(path)
    state = FileState.of(path)
    heard = index.stored_channels(state)
    if heard is None:
        heard = programmes_with_audio(path)
        index.store_channels(state, heard)
    return heard


def with_playlists(found: list[Recording], playlists: list[Path], root: Path,
                   patterns: tuple[str, ...]) -> list[Recording]:
    """`found` (under `root`) with the segments of each HLS media playlist of `playlists` replaced by the
    playlist: a recording made as HLS (`ffmpeg -f hls`, a recorder's timeshift: `play.m3u8` and segments of
    a few seconds) is one recording, its times running on from segment to segment. Scanned each alone,
    its segments gave a result each, their times each from the segment's own start, and a turn across
    two was two. Where `patterns` chose the files, they are scanned as chosen, with a warning."""
    for playlist in playlists:
        listed = playlist_segments(playlist)
        wanted = set(listed)
        segments = [r for r in found if r.path.resolve() in wanted]
        if not segments:
            continue
        if patterns:
            log.warning("%s: lists %d of the files --glob chose (%s%s): they are scanned each as a recording; "
                        "scan the playlist to scan them as one", playlist, len(segments), segments[0].path.name,
                        ", …" if len(segments) > 1 else "")
            continue
        log.info("%s: an HLS playlist, scanned as one recording of its %d segments", playlist, len(segments))
        warn_of_missing_segments(playlist, listed)
        found = sorted([r for r in found if r not in segments] + [Recording(playlist, root)], key=lambda r: r.path)
    return found


def with_vdr_recordings(found: list[Recording], vdr_files: list[Path], root: Path) -> list[Recording]:
    """`found` (under `root`) with each VDR recording that files of `vdr_files` belong to (NAME.rec/00001.ts,
    00002.ts, …; 001.vdr, … of older VDRs, which are no media files by their name) in place of its files: the
    recording, its folder. Scanned apart, each file's times began at 0:00 again, not as VDR plays them. A
    recording deleted in VDR (NAME.del, until VDR removes it) is passed over, with a warning; given itself,
    it is scanned."""
    folders = {file.parent for file in vdr_files if is_vdr_recording(file.parent)}
    if not folders:
        return found
    if deleted := sorted(folder for folder in folders if folder.suffix == VDR_DELETED_SUFFIX):
        log.warning("%s: a recording deleted in VDR (until VDR removes it): passed over%s", deleted[0],
                    f", and {len(deleted) - 1} more" if len(deleted) > 1 else "")
    return sorted([r for r in found if not (r.path.parent in folders and VDR_FILE.fullmatch(r.path.name))]
                  + [Recording(folder, root) for folder in folders if folder.suffix != VDR_DELETED_SUFFIX],
                  key=lambda r: r.path)


def warn_of_missing_segments(playlist: Path, listed: list[Path]) -> None:
    """Say which of the segments `listed` by `playlist` are not there (FFmpeg passes over them)."""
    if missing := [path for path in listed if not path.exists()]:
        log.warning("%s: %d of the segments it lists are not there (%s%s): their time is a gap in its scan",
                    playlist, len(missing), missing[0].name, ", …" if len(missing) > 1 else "")


def playlist_segments(playlist: Path) -> list[Path]:
    """The local files the HLS media playlist at `playlist` lists, resolved, in its order; none for a master
    playlist (it lists the playlists of other renditions), one that cannot be read, or not a playlist."""
    try:
        text = playlist.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff")
    except OSError:
        return []
    if not text.startswith("#EXTM3U") or "#EXT-X-STREAM-INF" in text:
        return []
    uris = (line.strip() for line in text.splitlines())
    return [(playlist.parent / urllib.parse.unquote(uri)).resolve() for uri in uris
            if uri and not uri.startswith("#") and "://" not in uri]


@dataclass(frozen=True)
class BatchOutcome:
    """One recording of a batch: its results (one per model), or the error it failed with."""

    recording: Recording
    results: list[ScanResult] | None = None
    error: SpeakerspotError | None = None


def scan_batch(models: list[SpeakerModel], recordings: list[Recording],
               on_results: Callable[[Recording, list[ScanResult]], None],
               on_failure: Callable[[SpeakerspotError], None] = lambda error: None, *,
               options: ScanOptions = ScanOptions(), workers: int = 1, index: ResultsIndex | None = None,
               force: bool = False, progress: bool = False, engine: str = "local",
               ray_address: str | None = None, on_segment: RecordingSegmentCallback | None = None,
               on_broadcast_time: RecordingBroadcastTimeCallback | None = None,
               keep_windows: bool = True) -> BatchSummary:
    """`batch_outcomes` (see there for the settings) handing each recording's results to
    `on_results` and each failure to `on_failure`; the summary of what the batch did. An OutputError of
    `on_results` (one recording's outputs cannot be written) is that recording's failure, and the batch goes
    on, unless the file system is full or read-only."""
    summary = BatchSummary()
    outcomes = batch_outcomes(models, recordings, options=options, workers=workers, index=index, force=force,
                              progress=progress, engine=engine, ray_address=ray_address, summary=summary,
                              on_segment=on_segment, on_broadcast_time=on_broadcast_time,
                              keep_windows=keep_windows)
    # Closed when a callback fails (an output that cannot be written, stdout's reader gone): the workers stop
    # then, as `batch_outcomes` says, not when the process exits.
    with contextlib.closing(outcomes):
        for outcome in outcomes:
            if outcome.error is not None:
                on_failure(outcome.error)
                continue
            if (error := write_or_fail(on_results, outcome.recording, outcome.results)) is not None:
                summary.failures.append(error)  # this recording's outputs: the rest go on
                on_failure(error)
    return summary


def batch_outcomes(models: list[SpeakerModel], recordings: list[Recording], *,
                   options: ScanOptions = ScanOptions(), workers: int = 1, index: ResultsIndex | None = None,
                   force: bool = False, progress: bool = False, engine: str = "local", ray_address: str | None = None,
                   summary: BatchSummary | None = None, on_segment: RecordingSegmentCallback | None = None,
                   on_broadcast_time: RecordingBroadcastTimeCallback | None = None,
                   keep_windows: bool = True) -> Iterator[BatchOutcome]:
    """Scan every recording with every model: each recording's results in the order of
    `recordings`, each failure as it happens (the batch goes on); `summary`, if given, is kept up
    to date. Stopping early (leaving the loop) stops the workers.

    With an `index`, a recording whose results for every model and these options are stored and
    whose file is unchanged is not scanned again (unless `force`): its stored results come out.
    Every recording scanned is stored as soon as it is done. `workers` > 1 scans in that many
    processes. With `engine` "ray", recordings are scanned as tasks on the Ray cluster at
    `ray_address` (see `ray_engine.scan_on_ray`; None starts one of `workers` CPUs here), while this
    process keeps the index and hands on the results as before.

    `on_segment(recording, model_name, segment)` is called with each segment as soon as it is decided,
    while its recording is scanned, `on_broadcast_time(recording, time)` with when its 0:00 was broadcast,
    as soon as it is known (see `scan`), and `keep_windows` False leaves the windows out of the results:
    only where recordings are scanned in this process (`workers` 1, or a single recording, and engine
    "local"). A recording whose results the index holds is not scanned: its results say its broadcast time.
    """
    if shared := namesakes(models):
        raise ValueError(f"several models named {', '.join(map(repr, shared))}: their outputs and stored results "
                         "would overwrite each other; give each model a name of its own")
    from .model import refuse_base_encoders  # here: a batch that scans nothing need not import torch

    refuse_base_encoders(models)  # before any recording, not once for each
    told_as_scanned = on_segment is not None or on_broadcast_time is not None or not keep_windows
    if told_as_scanned and (engine != "local" or (workers > 1 and len(recordings) > 1)):
        raise ValueError("on_segment, on_broadcast_time and keep_windows need the recordings scanned in this "
                         "process: engine 'local' and 1 worker")
    model_hashes = [model.fingerprint() for model in models] if index else []
    summary = summary if summary is not None else BatchSummary()
    started = time.monotonic()
    in_order = OrderedDelivery(recordings)
    to_scan: list[Recording] = []
    states: dict[Recording, FileState] = {}
    bar = tqdm(total=len(recordings), initial=summary.skipped, desc="recordings", unit="file", leave=False,
               disable=not progress or len(recordings) == 1)
    with bar:  # from the index's look-ups on: an archive's are many, and some read the recording
        for recording in recordings:
            stored = None
            state = file_state(recording.path) if index is not None else None
            if state is not None and not force:
                stored = [index.lookup(state, model_hash, recording.scan_options(options), recording.relative)
                          for model_hash in model_hashes]
            if stored and all(stored):
                summary.skipped += 1
                bar.update()
                stored = with_broadcast_time(index, state.path, stored, recording.scan_options(options))
                yield from in_order.deliver(recording, [replace(result, file=str(recording.path)) for result in stored])
                continue
            to_scan.append(recording)
            with contextlib.suppress(OSError):  # unreadable: its scan says why, and no result is stored
                if state is not None and state.fingerprint:  # read now, before the scan
                    states[recording] = state
        if engine == "ray":
            from .ray_engine import scan_on_ray

            outcomes = scan_on_ray(models, to_scan, options, ray_address, workers)
        elif len(to_scan) <= 1 or workers <= 1:
            outcomes = scan_here(models, to_scan, options, progress=progress and len(recordings) == 1,
                                 on_segment=on_segment, on_broadcast_time=on_broadcast_time,
                                 keep_windows=keep_windows)
        else:
            outcomes = scan_in_workers(models, to_scan, options, workers)
        # Closed whatever ends the loop (the caller stopping included), which stops the workers at once.
        with contextlib.closing(outcomes):
            for recording, (outcome, seconds) in outcomes:
                bar.update()
                if isinstance(outcome, SpeakerspotError):
                    outcome = recording.failure(outcome)
                    summary.failures.append(outcome)
                    if index is not None:
                        index.store_failure(recording.path, model_hashes, [m.name for m in models],
                                            recording.scan_options(options), str(outcome))
                    yield BatchOutcome(recording, error=outcome)
                    yield from in_order.skip(recording)
                    continue
                if index is not None and recording in states:
                    index.store(states[recording], model_hashes, outcome, recording.scan_options(options), seconds,
                                recording.relative)
                summary.scanned += 1
                summary.audio_seconds += outcome[0].duration
                bar.set_postfix_str(f"{summary.audio_seconds / 3600:.2f} h of audio", refresh=False)
                yield from in_order.deliver(recording, outcome)
    summary.wall_seconds = time.monotonic() - started


def forget_deleted_recordings(index: ResultsIndex, folder: Path) -> list[str]:
    """Forget the stored results and failures of the recordings below `folder` that are no longer there: deleted
    from the archive (one moved within it was found by content under its new path when it was scanned; see
    `ResultsIndex.moved_here`). Those whose nearest folder still there is empty are kept, with a warning: an empty
    folder is what a disk not mounted leaves. Returns the recordings forgotten."""
    folder = folder.resolve()
    gone: list[str] = []
    kept: dict[Path, int] = {}
    for recording in sorted(index.stored_recordings()):
        path = Path(recording)
        if not path.is_relative_to(folder) or os.path.lexists(path):
            continue
        nearest = path.parent
        while nearest != folder and not os.path.lexists(nearest):
            nearest = nearest.parent
        if holds_nothing(nearest):
            kept[nearest] = kept.get(nearest, 0) + 1
        else:
            log.info("%s: no longer there: its stored results are forgotten", recording)
            gone.append(recording)
    index.forget(gone)
    for empty, count in kept.items():
        log.warning("%s: empty (a disk not mounted?): the stored results of %d recording%s below it are kept", empty,
                    count, "s" if count > 1 else "")
    return gone


def holds_nothing(folder: Path) -> bool:
    """Whether `folder` is empty, or cannot be listed: what a disk not mounted leaves of its mount point."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return True


def with_broadcast_time(index: ResultsIndex, path: Path, stored: list[ScanResult],
                        options: ScanOptions) -> list[ScanResult]:
    """The `stored` results of the recording at `path` (resolved), with the broadcast time they lack read now
    and stored with them: where an older version stored them without it, from the recording; where none was
    found when they were scanned, from what its recorder says of when it began it (`sidecars.recorder_start`:
    Enigma2's .meta files, VDR's and MythTV's names; read since 2026-12-07)."""
    if index.unread_broadcast_time(path):
        aired = broadcast_time_of(path, options)
    elif stored[0].broadcast_time is None and (began := recorder_start(path)) is not None:
        aired = began[0]
    else:
        return stored
    index.store_broadcast_time(path, aired)
    return [replace(result, broadcast_time=aired) for result in stored]


def broadcast_time_of(path: Path, options: ScanOptions) -> datetime.datetime | None:
    """When the recording at `path` was broadcast, by the stream `options` pick (None where it does not say
    or cannot be read now)."""
    try:
        return recording_facts(path, options.track).broadcast_time
    except (SpeakerspotError, OSError):
        return None


def namesakes(models: list[SpeakerModel]) -> dict[str, list[int]]:
    """The names several of `models` share, each with their positions in `models` (a copied model file
    keeps its model's name): outputs and index rows are named after the model."""
    positions: dict[str, list[int]] = {}
    for position, model in enumerate(models):
        positions.setdefault(model.name, []).append(position)
    return {name: found for name, found in positions.items() if len(found) > 1}


def file_state(path: Path) -> FileState | None:
    """The recording's state for the index; None when it cannot be read (scanning then says why), and
    for a pipe: its fingerprint would read the start of the stream the scan reads, and what a pipe
    delivers once cannot be skipped as unchanged."""
    if readable_once(path):
        return None
    try:
        return FileState.of(path)
    except OSError:
        return None


class OrderedDelivery:
    """Puts results in the order of the recordings, whatever order they are done in."""

    def __init__(self, recordings: list[Recording]):
        self.waiting = deque(recordings)
        self.done: dict[Recording, list[ScanResult] | None] = {}

    def deliver(self, recording: Recording, results: list[ScanResult]) -> Iterator[BatchOutcome]:
        """The results now due: this recording's, if every one before it is done, and those after it that wait."""
        self.done[recording] = results
        return self.flush()

    def skip(self, recording: Recording) -> Iterator[BatchOutcome]:
        """The results now due, as `deliver`, for a recording that has none (it failed)."""
        self.done[recording] = None
        return self.flush()

    def flush(self) -> Iterator[BatchOutcome]:
        due = []
        while self.waiting and self.waiting[0] in self.done:
            recording = self.waiting.popleft()
            results = self.done.pop(recording)
            if results is not None:
                due.append(BatchOutcome(recording, results))
        return iter(due)


