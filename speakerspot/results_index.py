"""A results index in SQLite: what was scanned, with which model and settings, and what it found.

One row per recording, audio stream chosen (a capture of a whole multiplex: each channel scanned) and model
name: a new version of a model (retrained, or enrolled in place)
replaces its predecessor's row when it scans the recording. A row is written in one transaction
when its recording is done, so killing the process at any moment loses no completed result and
leaves no half result. A recording is "unchanged" when its size and modification time match the
row, or, if only the time moved (a copy, a `touch`), its content fingerprint does. A recording moved or renamed
keeps its results: found under no path the index holds, it is known by its content where the path of that content's
row holds nothing any more. A recording deleted from the archive is forgotten when asked (see
`batch.forget_deleted_recordings`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .config import ScanOptions, TrackChoice
from .errors import OutputError
from .files import check_writable
from .segments import ScanResult, Segment, iso_time, time_of
from .split_recordings import open_recording, recording_status

# 2: the decision's stay and edge levels; 3: when the recording was broadcast (older files gain them, empty, on
# opening); 4: a result without one reads it once more (version 3 read a recording's first 16 MB only); 5: the
# recording's path below the folder the scan was given; 6: a row per recording, track chosen and model (a second
# channel's scan of a multiplex capture replaced the first's); 7: the channels of a capture listed as
# `audio.programmes_with_audio` lists them since 2026-12-07, looked for further in where silent at its start
# (version 6's listings are forgotten, and listed again)
SCHEMA_VERSION = 7
# The columns each older version gains on opening (empty for the results it holds).
MIGRATIONS = {1: ("stay_threshold REAL", "edge_threshold REAL", "broadcast_time TEXT", "relative TEXT"),
              2: ("broadcast_time TEXT", "relative TEXT"), 3: ("relative TEXT",), 4: ("relative TEXT",), 5: (), 6: ()}
FIRST_VERSION_KEYED_BY_TRACK = 6
FIRST_VERSION_READING_EVERY_BROADCAST_TIME = 4
# The broadcast time of a result stored without one by an older version: read from the recording by the next
# scan that finds it unchanged (see `unread_broadcast_time`), not scanned again for it.
UNREAD = "unread"
FINGERPRINT_BLOCK = 1 << 20  # bytes read at the start, middle and end of a recording

log = logging.getLogger(__name__)

TABLE = """
CREATE TABLE IF NOT EXISTS results (
    recording TEXT NOT NULL,          -- absolute path
    model_hash TEXT NOT NULL,         -- SpeakerModel.fingerprint(): weights, memory bank, decision
    model TEXT NOT NULL,              -- the model's name
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,        -- see file_fingerprint()
    settings TEXT NOT NULL,           -- ScanOptions as JSON
    status TEXT NOT NULL,             -- 'done' or 'failed'
    error TEXT,                       -- the failure's message
    threshold REAL,
    duration REAL,                    -- seconds of audio
    scan_seconds REAL,                -- wall time of the recording's scan (all its models together)
    segments TEXT,                    -- JSON [[start, end, score], ...]
    window_times BLOB,                -- float64 array
    window_scores BLOB,               -- float32 array
    smoothed_scores BLOB,             -- float32 array
    scanned_at TEXT NOT NULL,         -- UTC, ISO 8601
    stay_threshold REAL,              -- the level a segment's windows stay above (Decision)
    edge_threshold REAL,              -- the level its first and last windows are above
    broadcast_time TEXT,              -- when its 0:00 was broadcast, UTC, ISO 8601 (ScanResult.broadcast_time)
    relative TEXT,                    -- its path below the folder the scan was given, which outputs mirror
    track TEXT NOT NULL DEFAULT '',   -- the audio stream the settings chose (TrackChoice.key; '' the default)
    PRIMARY KEY (recording, track, model_hash)
)"""
# a recording under a new path is looked up by its content (ResultsIndex.moved_here)
CONTENT_INDEX = "CREATE INDEX IF NOT EXISTS results_by_content ON results (fingerprint)"
# The channels of each capture of a whole multiplex that `scan --every-programme` listed (see `batch.every_programme`):
# read again where the capture changed, not at every rerun of an archive.
CHANNELS_TABLE = """
CREATE TABLE IF NOT EXISTS channels (
    recording TEXT PRIMARY KEY,       -- absolute path
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    heard TEXT NOT NULL               -- JSON {channel: whether its tracks sent audio (audio.programmes_with_audio)}
)"""


@dataclass(frozen=True)
class FileState:
    """What identifies a recording's content: size, modification time and fingerprint, all taken
    before it is scanned (a recording still being written is then seen as changed next time).

    The fingerprint is read when first asked for (OSError where it cannot be): where a stored row's time
    differs, and before a scan; not for every unchanged recording of an archive, which cost 3 MiB read
    from each to find that nothing changed."""

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> FileState:
        return cls(Path(path).resolve(), *recording_status(path))

    @functools.cached_property
    def fingerprint(self) -> str:
        return file_fingerprint(self.path)


def file_fingerprint(path: str | Path) -> str:
    """BLAKE2b of the size and of 1 MiB at the start, the middle and the end of the file.

    Reading three blocks instead of gigabytes keeps resuming an archive cheap; a recording edited
    in place without changing its size or those blocks is not detected (use --force).
    """
    digest = hashlib.blake2b(digest_size=16)
    with open_recording(path) as file:
        size = file.seek(0, os.SEEK_END)
        digest.update(size.to_bytes(8, "little"))
        for offset in sorted({0, max(0, size // 2 - FINGERPRINT_BLOCK // 2), max(0, size - FINGERPRINT_BLOCK)}):
            file.seek(offset)
            digest.update(file.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredFailure:
    recording: str
    model: str
    error: str
    scanned_at: str
    track: TrackChoice = TrackChoice()  # the audio stream the scan's options chose


class ResultsIndex:
    """The SQLite file at `path`, created on first use. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path):
        self.path = check_writable(path)
        try:
            self.connection = sqlite3.connect(self.path, timeout=30)
            self.connection.execute("PRAGMA journal_mode=WAL")  # readers never block the scan writing
            if self.connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self.upgrade()
            self.connection.execute(CHANNELS_TABLE)
        except sqlite3.DatabaseError as error:
            raise OutputError(self.path, f"not a usable results index: {error}") from None

    def upgrade(self) -> None:
        """Make a new index's table, or bring an older version's to this one, in one transaction (another process
        opening the index waits, then finds it done)."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self.connection.execute(TABLE)
            elif version in MIGRATIONS:
                log.info("%s: results index of version %d brought to version %d", self.path, version, SCHEMA_VERSION)
                for added in MIGRATIONS[version]:
                    self.connection.execute(f"ALTER TABLE results ADD COLUMN {added}")
                if version < FIRST_VERSION_READING_EVERY_BROADCAST_TIME:
                    self.connection.execute("UPDATE results SET broadcast_time = ? WHERE status = 'done' AND "
                                            "broadcast_time IS NULL", (UNREAD,))
                if version < FIRST_VERSION_KEYED_BY_TRACK:
                    self.key_by_track()
                self.connection.execute("DROP TABLE IF EXISTS channels")  # listed again, as they are listed now
            elif version != SCHEMA_VERSION:
                raise OutputError(self.path, f"results index version {version} is not supported "
                                             f"(this speakerspot reads version {SCHEMA_VERSION})")
            self.connection.execute(CONTENT_INDEX)
            self.connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if 0 < version < FIRST_VERSION_KEYED_BY_TRACK:  # the table made again left the old one's pages free
            with contextlib.suppress(sqlite3.OperationalError):  # another process has it open: it stays so
                self.connection.execute("VACUUM")

    def key_by_track(self) -> None:
        """Version 6's table from an older one: its key gains the track chosen, which SQLite cannot add to a
        table's key, so the table is made again; each row's track read from its settings."""
        self.connection.execute("DROP INDEX IF EXISTS results_by_content")
        self.connection.execute("ALTER TABLE results RENAME TO results_before_tracks")
        self.connection.execute(TABLE)
        columns = ", ".join(row[1] for row in self.connection.execute("PRAGMA table_info(results_before_tracks)"))
        self.connection.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM results_before_tracks")
        self.connection.execute("DROP TABLE results_before_tracks")
        for (settings,) in self.connection.execute("SELECT DISTINCT settings FROM results").fetchall():
            self.connection.execute("UPDATE results SET track = ? WHERE settings = ?",
                                    (ScanOptions(**json.loads(settings)).track.key, settings))

    def __enter__(self) -> ResultsIndex:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def lookup(self, state: FileState, model_hash: str, settings: ScanOptions,
               relative: Path | None = None) -> ScanResult | None:
        """The stored result of this recording and model, if it is done and the file is unchanged; where none is
        stored under its path, that of a recording moved here (see `moved_here`; `relative` as `store` takes it)."""
        row = self.connection.execute(
            "SELECT size, mtime_ns, fingerprint, " + RESULT_COLUMNS + " FROM results "
            "WHERE recording = ? AND model_hash = ? AND settings = ? AND status = 'done'",
            (stored_text(state.path), model_hash, settings.to_json())).fetchone()
        if row is None:
            return self.moved_here(state, model_hash, settings, relative)
        if row[0] != state.size:
            return None
        if row[1] != state.mtime_ns:
            try:
                if row[2] != state.fingerprint:
                    return None
            except OSError:  # scanned, it says why
                return None
            with self.connection:  # same content, new time: remember it so the next check is cheap
                self.connection.execute("UPDATE results SET mtime_ns = ? WHERE recording = ? AND model_hash = ?",
                                        (state.mtime_ns, stored_text(state.path), model_hash))
        return result_from_row(row[3:])

    def moved_here(self, state: FileState, model_hash: str, settings: ScanOptions,
                   relative: Path | None) -> ScanResult | None:
        """The stored result of a recording of this content (size and fingerprint), model and settings whose file is
        no longer where it was scanned: moved or renamed here (to another disk, into a folder of its series), it is
        not scanned again. Its row moves to this path; a copy whose original is still there is scanned as a recording
        of its own."""
        try:
            fingerprint = state.fingerprint
        except OSError:  # scanned, it says why
            return None
        rows = self.connection.execute(
            "SELECT recording, model FROM results WHERE size = ? AND fingerprint = ? AND model_hash = ? AND "
            "settings = ? AND status = 'done'", (state.size, fingerprint, model_hash, settings.to_json())).fetchall()
        gone, model = next((row for row in rows if not os.path.lexists(text_of(row[0]))), (None, None))
        if gone is None:
            return None
        here, track = stored_text(state.path), settings.track.key
        with self.connection:  # this path's failure, result with other settings or of an older model: replaced
            self.connection.execute("DELETE FROM results WHERE recording = ? AND track = ? AND model = ?",
                                    (here, track, model))
            self.connection.execute(
                "UPDATE results SET recording = ?, mtime_ns = ?, relative = ? WHERE recording = ? AND track = ? AND "
                "model_hash = ?", (here, state.mtime_ns, stored_relative(relative), gone, track, model_hash))
        log.info("%s: moved here from %s: its stored results are kept, not scanned again", state.path, text_of(gone))
        return self.lookup(state, model_hash, settings, relative)

    def store(self, state: FileState, model_hashes: list[str], results: list[ScanResult], settings: ScanOptions,
              scan_seconds: float, relative: Path | None = None) -> None:
        """Record a recording's results, one per model, in one transaction; `relative`: its path below the folder
        the scan was given (`Recording.relative`), which `results --output-dir` mirrors as the scan did."""
        with self.connection:
            for model_hash, result in zip(model_hashes, results, strict=True):
                self.forget_other_versions(state.path, settings.track.key, result.model, model_hash)
                self.connection.execute(
                    "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,'done',NULL,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (stored_text(state.path), model_hash, stored_text(result.model), state.size, state.mtime_ns,
                     state.fingerprint, settings.to_json(), result.threshold, result.duration, scan_seconds,
                     json.dumps([[s.start, s.end, s.score] for s in result.segments]),
                     np.asarray(result.window_times, np.float64).tobytes(),
                     np.asarray(result.window_scores, np.float32).tobytes(),
                     np.asarray(result.smoothed_scores, np.float32).tobytes(), utc_now(), result.stay_threshold,
                     result.edge_threshold, iso_time(result.broadcast_time), stored_relative(relative),
                     settings.track.key))

    def unread_broadcast_time(self, path: Path) -> bool:
        """Whether a stored result of the recording at `path` (resolved) predates the broadcast time's column."""
        return self.connection.execute("SELECT 1 FROM results WHERE recording = ? AND broadcast_time = ?",
                                       (stored_text(path), UNREAD)).fetchone() is not None

    def store_broadcast_time(self, path: Path, broadcast_time: datetime.datetime | None) -> None:
        """Store the broadcast time of the recording at `path` (resolved) with its results."""
        with self.connection:
            self.connection.execute("UPDATE results SET broadcast_time = ? WHERE recording = ? AND status = 'done'",
                                    (iso_time(broadcast_time), stored_text(path)))

    def store_failure(self, path: str | Path, model_hashes: list[str], model_names: list[str],
                      settings: ScanOptions, error: str) -> None:
        """Record that a recording could not be scanned (it is retried on the next run)."""
        try:
            size, mtime_ns = recording_status(path)
        except OSError:
            size, mtime_ns = -1, -1
        recording = Path(path).resolve()
        with self.connection:
            for model_hash, name in zip(model_hashes, model_names, strict=True):
                self.forget_other_versions(recording, settings.track.key, name, model_hash)
                self.connection.execute(
                    "INSERT OR REPLACE INTO results (recording, model_hash, model, size, mtime_ns, fingerprint, "
                    "settings, status, error, scanned_at, track) VALUES (?,?,?,?,?,'',?,'failed',?,?,?)",
                    (stored_text(recording), model_hash, stored_text(name), size, mtime_ns, settings.to_json(), error,
                     utc_now(), settings.track.key))

    def forget_other_versions(self, recording: Path, track: str, model: str, model_hash: str) -> None:
        """Drop the recording's row of this track (`TrackChoice.key`) and of another version of the model named
        `model` (retrained, or enrolled in place): the index keeps the latest result of each recording, track and
        model name."""
        self.connection.execute("DELETE FROM results WHERE recording = ? AND track = ? AND model = ? AND "
                                "model_hash != ?", (stored_text(recording), track, stored_text(model), model_hash))

    def stored_recordings(self) -> set[str]:
        """Every recording the index holds a result or a failure of."""
        return {text_of(row[0]) for row in self.connection.execute("SELECT DISTINCT recording FROM results")}

    def forget(self, recordings: list[str]) -> None:
        """Drop every row of these recordings (as `stored_recordings` names them), in one transaction."""
        with self.connection:
            for table in ("results", "channels"):
                self.connection.executemany(f"DELETE FROM {table} WHERE recording = ?",
                                            [(stored_text(recording),) for recording in recordings])

    def stored_channels(self, state: FileState) -> dict[str, bool] | None:
        """The channels `store_channels` stored of the recording, where it is unchanged since (its size and time)."""
        row = self.connection.execute("SELECT heard FROM channels WHERE recording = ? AND size = ? AND mtime_ns = ?",
                                      (stored_text(state.path), state.size, state.mtime_ns)).fetchone()
        return None if row is None else json.loads(row[0])

    def store_channels(self, state: FileState, heard: dict[str, bool]) -> None:
        """Store the channels of a capture of a whole multiplex (`audio.programmes_with_audio`; none: one programme)."""
        with self.connection:
            self.connection.execute("INSERT OR REPLACE INTO channels VALUES (?,?,?,?)",
                                    (stored_text(state.path), state.size, state.mtime_ns, json.dumps(heard)))

    def model_names(self) -> list[str]:
        """The names of the models the index holds results or failures of."""
        return [text_of(row[0]) for row in self.connection.execute("SELECT DISTINCT model FROM results ORDER BY model")]

    def results(self, model: str | None = None, windows: bool = True) -> Iterator[ScanResult]:
        """Stored results, by recording path, track and model name; only those of model `model` if given. Without
        `windows`, their window arrays are left empty, unread (most of an index's bytes: what needs the segments
        alone reads it in a third of the time)."""
        return map(result_from_row, self.select(RESULT_COLUMNS if windows else WITHOUT_WINDOWS, "done", model))

    def recordings(self, model: str | None = None) -> list[str]:
        """The recordings `results(model)` gives results of, each once."""
        return sorted({text_of(row[0]) for row in self.select("recording", "done", model)})

    def relatives(self, model: str | None = None) -> dict[str, Path]:
        """The path of each recording of `recordings(model)` below the folder its scan was given, where the index
        knows it (a result stored before version 5 does not)."""
        return {text_of(recording): Path(text_of(relative))
                for recording, relative in self.select("recording, relative", "done", model) if relative is not None}

    def count(self, model: str | None = None) -> int:
        """How many results `results(model)` gives."""
        return self.select("COUNT(*)", "done", model).fetchone()[0]

    def failures(self, model: str | None = None) -> list[StoredFailure]:
        """The recordings that could not be scanned in their last run, and why."""
        return [StoredFailure(text_of(recording), text_of(name), error, scanned_at,
                              ScanOptions(**json.loads(settings)).track)
                for recording, name, error, scanned_at, settings in
                self.select("recording, model, error, scanned_at, settings", "failed", model)]

    def select(self, columns: str, status: str | None, model: str | None) -> sqlite3.Cursor:
        """Rows of this status (any if None) and model (any if None), by recording, track and model."""
        query, parameters = f"SELECT {columns} FROM results WHERE status = coalesce(?, status)", [status]
        if model is not None:
            query += " AND model = ?"
            parameters.append(stored_text(model))
        # by the bytes of the path: a name stored as bytes (see `stored_text`) among the others
        return self.connection.execute(query + " ORDER BY CAST(recording AS BLOB), track, model", parameters)


WINDOW_COLUMNS = "window_times, window_scores, smoothed_scores"
RESULT_COLUMNS = (f"recording, model, threshold, duration, segments, {WINDOW_COLUMNS}, stay_threshold, edge_threshold, "
                  "broadcast_time, settings")
WITHOUT_WINDOWS = RESULT_COLUMNS.replace(WINDOW_COLUMNS, "x'', x'', x''")  # empty in their place


def result_from_row(row: tuple) -> ScanResult:
    recording, model, threshold, duration, segments, times, scores, smoothed, stay, edge, broadcast, settings = row
    return ScanResult(file=text_of(recording), model=text_of(model), threshold=threshold, duration=duration,
                      segments=[Segment(*segment) for segment in json.loads(segments)],
                      window_times=np.frombuffer(times, np.float64), window_scores=np.frombuffer(scores, np.float32),
                      smoothed_scores=np.frombuffer(smoothed, np.float32), stay_threshold=stay, edge_threshold=edge,
                      broadcast_time=None if broadcast == UNREAD else time_of(broadcast),
                      track=ScanOptions(**json.loads(settings)).track)


def stored_text(name: str | Path) -> str | bytes:
    """A path or model name as the index holds it: text, or where it is not UTF-8 its bytes (a file name is
    bytes: a Latin-1 name from an old archive; sqlite3 refuses it as text, which failed the batch)."""
    text = str(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def stored_relative(relative: Path | None) -> str | bytes | None:
    """A recording's path below the folder its scan was given, as the index holds it (the same on every system)."""
    return None if relative is None else stored_text(relative.as_posix())


def text_of(stored: str | bytes) -> str:
    """A path or model name as `stored_text` stored it."""
    return os.fsdecode(stored) if isinstance(stored, bytes) else stored


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class IndexesAsOne:
    """Several results indexes read as one (each machine's of `scan --shard`). A recording that more than one of
    them holds for a track and model (its shares drawn again with another count, a failure retried on another
    machine) comes once, as the index that scanned it last holds it, as one index keeps the latest row of each
    recording, track and model. A recording is the same in two indexes by its path, or, for machines that mount the
    archive at different paths, by its file name and content (its fingerprint; a failure, which has none, by its
    path only); copies of one recording under one name in other folders are then one, with one result."""

    def __init__(self, indexes: list[ResultsIndex]):
        self.indexes = indexes
        # `latest_rows` by model, decided once: a command counts, mirrors and writes the same rows
        self.latest: dict[str | None, list[set[LatestRow]]] = {}

    def model_names(self) -> list[str]:
        return sorted({name for index in self.indexes for name in index.model_names()})

    def results(self, model: str | None = None, windows: bool = True) -> Iterator[ScanResult]:
        """The results of every index, by index then as `ResultsIndex.results` orders them (`windows`: as there),
        each recording once."""
        latest = self.latest_rows(model)
        return (result for index, kept in zip(self.indexes, latest, strict=True)
                for result in index.results(model, windows)
                if LatestRow(result.file, result.track.key, result.model, "done") in kept)

    def recordings(self, model: str | None = None) -> list[str]:
        """The recordings `results(model)` gives results of, each once."""
        return sorted({row.recording for kept in self.latest_rows(model) for row in kept if row.status == "done"})

    def relatives(self, model: str | None = None) -> dict[str, Path]:
        """As `ResultsIndex.relatives`, of the recordings `results(model)` gives."""
        done = [{row.recording for row in kept if row.status == "done"} for kept in self.latest_rows(model)]
        return {recording: relative for index, recordings in zip(self.indexes, done, strict=True)
                for recording, relative in index.relatives(model).items() if recording in recordings}

    def count(self, model: str | None = None) -> int:
        """How many results `results(model)` gives."""
        return sum(row.status == "done" for kept in self.latest_rows(model) for row in kept)

    def failures(self, model: str | None = None) -> list[StoredFailure]:
        """The recordings whose last run, in whichever index, could not scan them, and why."""
        latest = self.latest_rows(model)
        return [failure for index, kept in zip(self.indexes, latest, strict=True) for failure in index.failures(model)
                if LatestRow(failure.recording, failure.track.key, failure.model, "failed") in kept]

    def latest_rows(self, model: str | None) -> list[set[LatestRow]]:
        """Each index's rows that no other index holds a later row of."""
        if model not in self.latest:
            self.latest[model] = self.read_latest_rows(model)
        return self.latest[model]

    def read_latest_rows(self, model: str | None) -> list[set[LatestRow]]:
        rows = sorted(((scanned_at, position, text_of(recording), track, text_of(name), fingerprint, status)
                       for position, index in enumerate(self.indexes)
                       for recording, track, name, fingerprint, scanned_at, status in
                       index.select("recording, track, model, fingerprint, scanned_at, status", None, model)),
                      reverse=True)
        holder: dict[tuple, int] = {}  # a recording's path, or name and content: the index that scanned it last
        kept: list[set[LatestRow]] = [set() for _ in self.indexes]
        # latest first; in one second, the later given
        for _, position, recording, track, name, fingerprint, status in rows:
            keys = [(name, track, recording)] + ([(name, track, Path(recording).name, fingerprint)] * bool(fingerprint))
            if {holder.setdefault(key, position) for key in keys} == {position}:
                kept[position].add(LatestRow(recording, track, name, status))
        return kept


class LatestRow(NamedTuple):
    """A row of one of several indexes that `IndexesAsOne` reads: its recording, track (`TrackChoice.key`), model's
    name and status."""

    recording: str
    track: str
    model: str
    status: str
