"""Decoding in a helper process, so that one core decodes while another computes features and scores.

PyAV holds the GIL while it demuxes and decodes, so a thread cannot run the rest of a scan beside
it; a process can. The helper (`python -m speakerspot.decoder_process`) runs `audio.decode_audio`'s
demuxing, decoding, downmixing and (up to an hour) resampling, and writes its batches of mono audio,
log records and error, if any, to its stdout. To the caller it is the same stream of chunks, the
same warnings, the same errors. It is a plain subprocess, not multiprocessing, so that a user's
script needs no `if __name__ == "__main__"` guard. The caller reads the pipe on a thread, some
megabytes ahead of its work (see `MessageReader`); the pipe blocks the helper when the caller falls
further behind, so memory stays bounded. Where the helper cannot start (an embedded or frozen
Python whose `sys.executable` cannot run speakerspot), decoding happens in the caller's process
instead.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import struct
import subprocess
import sys
import threading

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .audio import (
    CHUNK_SECONDS,
    AudioChunk,
    DecodedBatch,
    Piece,
    RecordingFacts,
    decode_audio,
    decoded_batches,
    joined_pieces,
    recording_facts,
    recording_pieces,
    resampled_batches,
    resampled_chunks,
    timed_chunks,
)
from .config import TrackChoice
from .errors import MediaError
from .media_files import STANDARD_INPUT, readable_once
from .split_recordings import is_vdr_recording
from .threads import available_cores

HEADER = struct.Struct("<cQ")  # message kind, payload length
READY, BATCH, PIECE_END, LOG, MEDIA_ERROR, OTHER_ERROR, END = b"R", b"B", b"P", b"L", b"M", b"X", b"E"
BATCH_INFO_LENGTH = struct.Struct("<I")  # a batch: the length of its JSON description, the description, its samples
PIPE_BYTES = 1 << 20  # a few batches (a second of 48 kHz mono float is 192 kB), Linux's default maximum
# What the helper decodes ahead of its pipe (see `WriterThread`) while the caller imports torch: 9
# minutes at 22,050 Hz on a recording it resamples; on a longer one, whose scan the start-up hardly
# lengthens, less, so that memory stays as it was. Until 2026-12-04 the caller read the start-up's
# audio ahead (48 MB, and 32 MB more here), which it could size only by probing the recording itself
# (see `decoded_beside`); held here instead, a 20-minute scan peaked at 377 MB against 374 MB, in
# 1.24x the floor's time against 1.26x (BENCHMARKS.md, 2026-12-04, twelfth session). The buffer is
# full when the caller starts computing, its own peak, so it adds to the scan's peak whole: with 64 MB
# the process tree peaked at 403-405 MB on a busy machine, with 48 MB at 387 MB, in the same time
# (paired runs; 32 MB: 1.06x the time, 16 MB: 1.18x; BENCHMARKS.md, 2026-12-05, twenty-third session).
HELPER_AHEAD_BYTES = 48 << 20
HELPER_AHEAD_BYTES_AT_SOURCE_RATE = 32 << 20
# No message is near this long: a longer length is not the helper's (something else wrote to its stdout).
MAX_MESSAGE_BYTES = 1 << 26

# Below this length a recording decodes in less time than a helper process takes to start (a command
# starts one for its recording before it imports torch, whatever the length: see `start_early`).
MIN_SECONDS_FOR_DECODER_PROCESS = 60.0
# Up to this length (or of unknown length) the helper resamples too, and beyond it the caller. The
# caller spends its first second or so importing torch and loading models while the helper decodes
# ahead (see `HELPER_AHEAD_BYTES`); on a short recording it is then the caller's work that ends last, on a
# long one the helper's. The helper applies it, as it knows the length (see `main`). A 3-hour capture
# resampled in the helper scanned in 13.1 s instead of 10.8 s (BENCHMARKS.md, 2026-12-04, twelfth
# session).
MAX_SECONDS_FOR_RESAMPLING_IN_HELPER = 60 * 60.0
# With several decoders (`decoded_beside`), a recording the helper does not resample is cut into pieces of
# this length, decoded by the helpers in turn: each runs a piece or more ahead of the caller (see
# HELPER_AHEAD_BYTES_AT_SOURCE_RATE) while another's piece is read.
PIECE_SECONDS = 60.0

log = logging.getLogger(__name__)


@contextlib.contextmanager
def decoded_beside(path: str | Path, sample_rate: int, track: TrackChoice = TrackChoice(), decoders: int = 1,
                   chunk_seconds: float = CHUNK_SECONDS) -> Iterator[tuple[RecordingFacts, Iterator[AudioChunk]]]:
    """(what the recording says of itself: its duration, when it was broadcast, see `audio.RecordingFacts`;
    the chunks of its stream `track` picks, of `chunk_seconds`, as `audio.decode_audio` gives them),
    decoded in a helper process where one pays (see `helper_pays`), else in this process: the same chunks
    either way. A helper started early (`start_early`) is taken; it tells the facts itself, so that this
    process need not load PyAV at all (see `audio`).

    With `decoders` > 1, an MPEG-TS recording longer than MAX_SECONDS_FOR_RESAMPLING_IN_HELPER is
    decoded by that many helpers, on pieces of it in turn (`audio.Piece`), and joined here: for a
    machine of many cores, where one decoder is slower than the rest of a scan. On 2 cores it is not
    faster (BENCHMARKS.md, 2026-12-04, thirteenth session)."""
    helper = early_helpers.pop(helper_request(path, track, sample_rate, decoders), None)
    if helper is None:
        facts = recording_facts(path, track)
        if not helper_pays(path, facts.duration):
            yield facts, decode_audio(path, sample_rate, track, chunk_seconds)
            return
    with decoded_in_helper(path, sample_rate, track, helper, decoders, chunk_seconds) as decoding:
        yield decoding


@contextlib.contextmanager
def decoded_in_helper(path: str | Path, sample_rate: int, track: TrackChoice = TrackChoice(),
                      helper: Helper | None = None, decoders: int = 1, chunk_seconds: float = CHUNK_SECONDS,
                      ) -> Iterator[tuple[RecordingFacts, Iterator[AudioChunk]]]:
    """`decoded_beside` by `helper` (started early) or a helper started now; decoded here where it
    cannot start. The helpers are stopped on leaving the block, wherever the reading was."""
    if helper is None:
        helper = started_helper(helper_request(path, track, sample_rate, decoders))
    helpers = [helper]
    try:
        ready = helper.ready() if helper else None
        if ready is None:
            yield recording_facts(path, track), decode_audio(path, sample_rate, track, chunk_seconds)
        elif ready["pieces"]:
            pieces = [Piece(**piece) for piece in ready["pieces"]]
            helpers += [piece_helper(path, pieces[number::decoders]) for number in range(1, decoders)]
            yield RecordingFacts.from_json(ready["facts"]), resampled_chunks(
                joined_pieces(pieces_of(path, pieces, helpers)), sample_rate, chunk_seconds)
        else:
            chunks = timed_chunks if ready["resampled"] else resampled_chunks
            yield RecordingFacts.from_json(ready["facts"]), chunks(helper.batches(path), sample_rate, chunk_seconds)
    finally:
        for started in helpers:
            if started:
                started.close()


def piece_helper(path: str | Path, pieces: list[Piece]) -> Helper | None:
    """A further helper, decoding `pieces` of the recording at `path`; None where it cannot start."""
    request = json.dumps({"path": str(path), "pieces": [dataclasses.asdict(piece) for piece in pieces],
                          "log_level": logging.getLogger().getEffectiveLevel()})
    helper = started_helper(request)
    if helper and helper.ready() is None:
        helper.close()  # its process has ended; its reading thread and pipe are closed too
        return None
    return helper


def pieces_of(path: str | Path, pieces: list[Piece], helpers: list[Helper | None]) -> Iterator[Iterator[DecodedBatch]]:
    """The batches of each piece in turn, from the helper that decodes it (helper k decodes every kth
    piece from the kth on), or decoded here for a helper that could not start."""
    for number, piece in enumerate(pieces):
        helper = helpers[number % len(helpers)]
        yield helper.batches(path) if helper else decoded_batches(path, piece=piece)


def helper_pays(path: str | Path, seconds: float | None) -> bool:
    """Whether a recording of `seconds` (as its header says) is decoded faster beside this process than
    in it: with a core to spare, one long enough. A pipe's length is not known (its header cannot be
    probed without eating it); what comes through one is usually a capture, minutes to hours long, so
    the helper takes a pipe it can open: piped to the command, a 20-minute capture scanned in 0.75x the
    time it took decoded here, 3 hours in 0.70x (paired; BENCHMARKS.md, 2026-12-04, tenth session)."""
    if available_cores() < 2:
        return False
    if readable_once(path):
        return opens_in_helper(path)
    return (seconds or 0) >= MIN_SECONDS_FOR_DECODER_PROCESS


def opens_in_helper(path: str | Path) -> bool:
    """Whether the helper opens the pipe `path` as this process would: a named pipe or a device, or the
    standard input (which the helper is given), but not another descriptor of this process's own
    (/dev/fd/N, which bash's `<(...)` gives, is closed in the helper)."""
    return Path(path) == STANDARD_INPUT or not str(path).startswith(("/dev/fd/", "/proc/"))


# Helpers started by `start_early`, by request, until `decoded_beside` takes them.
early_helpers: dict[str, Helper] = {}


def start_early(path: str | Path, sample_rate: int, track: TrackChoice = TrackChoice(), decoders: int = 1) -> None:
    """Start a helper for `path` now, so that it decodes while the caller imports torch and loads its
    models (about 1.3 s): a command calls this first. Whatever the recording's length: this process
    does not open it (see `decoded_beside`), and a short one costs the helper no more than the
    start-up it runs beside. A helper not taken by the time this process exits is stopped."""
    path = Path(path)
    request = helper_request(path, track, sample_rate, decoders)
    on_disk = path.is_file() or is_vdr_recording(path)
    wanted = helper_pays(path, None) if readable_once(path) else on_disk and available_cores() >= 2
    if wanted and request not in early_helpers and (helper := started_helper(request)):
        early_helpers[request] = helper


@atexit.register
def stop_early_helpers() -> None:
    for helper in early_helpers.values():
        helper.close()
    early_helpers.clear()


def helper_request(path: str | Path, track: TrackChoice, sample_rate: int, decoders: int = 1) -> str:
    return json.dumps({"path": str(path), "track": dataclasses.asdict(track),
                       "sample_rate": sample_rate, "resample_up_to_seconds": MAX_SECONDS_FOR_RESAMPLING_IN_HELPER,
                       "decoders": decoders, "piece_seconds": PIECE_SECONDS,
                       "log_level": logging.getLogger().getEffectiveLevel()})


def started_helper(request: str) -> Helper | None:
    """A helper for `request`; None where its process cannot start."""
    try:
        return Helper(request)
    except OSError as error:
        log.info("the decoder process cannot start (%s): decoding in this process", error)
        return None


class Helper:
    """A helper process decoding the recording of a request, and the thread reading its messages."""

    def __init__(self, request: str):
        # A session of its own: a Ctrl-C at the terminal reaches only the caller, which stops the helper.
        # The standard input only where the recording is read from it.
        reads_stdin = Path(json.loads(request)["path"]) == STANDARD_INPUT
        self.process = subprocess.Popen([sys.executable, "-m", __name__, request],
                                        stdin=None if reads_stdin else subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, start_new_session=True)
        widen_pipe(self.process.stdout)
        self.messages = MessageReader(self.process.stdout, MessageReader.AHEAD_BYTES)

    def ready(self) -> dict | None:
        """What the helper says once it has started (the recording's facts, and whether it resamples:
        see `planned`); None where it could not start (an embedded or frozen Python whose `sys.executable`
        cannot run speakerspot)."""
        kind, payload = self.messages.next()
        if kind != READY:
            log.info("the decoder process cannot start (%s exited with code %s): decoding in this process",
                     sys.executable, self.process.wait())
            return None
        return json.loads(payload)

    def batches(self, path: str | Path) -> Iterator[DecodedBatch]:
        """The batches the helper sends, after `ready` (of its next piece, where it decodes pieces); its log
        records logged here, its errors raised here."""
        while True:
            kind, payload = self.messages.next()
            if kind == BATCH:
                yield unpack_batch(payload)
            elif kind == PIECE_END:
                return
            elif kind == LOG:
                record = json.loads(payload)
                logging.getLogger(record["name"]).log(record["level"], "%s", record["message"])
            elif kind == MEDIA_ERROR:
                raise MediaError(path, json.loads(payload)["problem"])
            elif kind == OTHER_ERROR:
                raise RuntimeError(json.loads(payload)["error"])
            elif kind == END:
                return
            else:  # the helper died: no message, or half of one
                raise MediaError(path, f"the decoder process died (exit code {self.process.wait()})")

    def close(self) -> None:
        """Stop the helper if it has not ended, and the reading."""
        if self.process.poll() is None:
            self.process.kill()
        self.messages.stop()  # the reading thread sees the pipe's end once the helper is gone
        self.process.stdout.close()
        self.process.wait()


class MessageReader:
    """The helper's messages, its output read on a thread of its own up to `ahead_bytes` ahead of the caller.

    The pipe holds 1 MB, about 5 s of audio; the caller takes 10 s at a time and then computes for a
    while. Read straight from the pipe, the helper filled it within a fraction of that while and
    waited for the rest of it, and the caller then waited for the helper: 0.70 s of a 2.56 s scan of
    a 20-minute capture (profiled). Read ahead, a 3-hour recording scans in 0.89 of the time (paired
    runs; BENCHMARKS.md, 2026-12-03, fourth session).

    The thread takes whatever the pipe holds in one read (up to `READ_BYTES`) and leaves the messages
    to `next`: it needs the GIL once per read, not several times per message. While the caller
    imports torch it holds the GIL for long stretches, and the helper, 14 ms of whose decoding fill
    the pipe, waits on it: with the read-ahead unbounded, read message by message, it waited 0.73-0.78 s
    of a 20-minute scan; read like this, 0.46-0.65 s (traced; BENCHMARKS.md, 2026-12-04, eighth session)."""

    AHEAD_BYTES = 6 << 20  # 33 s of audio at 48 kHz, 71 s at 22,050 Hz
    READ_BYTES = PIPE_BYTES

    def __init__(self, stream: BinaryIO, ahead_bytes: int):
        self.stream = stream
        self.ahead_bytes = ahead_bytes
        self.chunks: collections.deque[bytes] = collections.deque()
        self.offset = 0  # of the first unread byte in chunks[0]
        self.queued_bytes = 0
        self.wanted_bytes = 0  # what `read` waits for: it may be more than the read-ahead
        self.ended = False  # the pipe has ended (or broken): no more chunks
        self.stopped = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.read_pipe, name="speakerspot-decoder-reader", daemon=True)
        self.thread.start()

    def read_pipe(self) -> None:
        chunk = b"-"
        while chunk:
            try:
                chunk = self.stream.read1(self.READ_BYTES)
            except (OSError, ValueError):  # a broken pipe: to the caller, a helper that died
                chunk = b""
            with self.changed:
                self.changed.wait_for(lambda: self.stopped
                                      or self.queued_bytes < max(self.ahead_bytes, self.wanted_bytes))
                if self.stopped:
                    return
                if chunk:
                    self.chunks.append(chunk)
                    self.queued_bytes += len(chunk)
                else:
                    self.ended = True
                self.changed.notify_all()

    def read(self, size: int) -> bytes:
        """The next `size` bytes of the helper's output (fewer only where it ended)."""
        parts = []
        with self.changed:
            self.wanted_bytes = size
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.queued_bytes >= size or self.ended)
            while size and self.chunks:
                first = self.chunks[0]
                part = first[self.offset:self.offset + size]
                parts.append(part)
                size -= len(part)
                self.queued_bytes -= len(part)
                self.offset += len(part)
                if self.offset == len(first):
                    self.chunks.popleft()
                    self.offset = 0
            self.changed.notify_all()
        return b"".join(parts)  # one part: that part itself, not a copy

    def next(self) -> tuple[bytes, bytes]:
        """The next message, as `read_message` returns it."""
        return read_message(self)

    def stop(self) -> None:
        """Stop reading; the helper must have ended (or been killed), so that the pipe ends too."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()
        self.thread.join()


def pack_batch(batch: DecodedBatch) -> bytes:
    info = {"start": batch.start, "after_gap": batch.after_gap, "rate": batch.rate, "rebase": batch.rebase,
            "broadcast_time": None if batch.broadcast_time is None else batch.broadcast_time.isoformat()}
    description = json.dumps(info).encode()
    # Joined from the array's own buffer: one copy of the samples, not two (tobytes, then +).
    return b"".join([BATCH_INFO_LENGTH.pack(len(description)), description, memoryview(batch.samples)])


def unpack_batch(payload: bytes) -> DecodedBatch:
    (length,) = BATCH_INFO_LENGTH.unpack_from(payload)
    info = json.loads(payload[BATCH_INFO_LENGTH.size:BATCH_INFO_LENGTH.size + length])
    samples = np.frombuffer(payload, np.float32, offset=BATCH_INFO_LENGTH.size + length)
    aired = info["broadcast_time"]
    return DecodedBatch(info["start"], info["after_gap"], info["rate"], samples, info["rebase"],
                        None if aired is None else datetime.datetime.fromisoformat(aired))


def widen_pipe(pipe: BinaryIO) -> None:
    """Let the helper write a few batches ahead (Linux; elsewhere the pipe keeps its size)."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def read_message(stream: BinaryIO | MessageReader) -> tuple[bytes, bytes]:
    """(kind, payload) of the next message; kind b"" at the end of the stream, in a cut message, or
    in bytes that are not a message."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return b"", b""
    kind, length = HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        return b"", b""
    payload = stream.read(length)
    return (kind, payload) if len(payload) == length else (b"", b"")


def write_message(stream: BinaryIO | WriterThread, kind: bytes, payload: bytes) -> None:
    stream.write(HEADER.pack(kind, len(payload)))
    stream.write(payload)


class PipeHandler(logging.Handler):
    """Sends the helper's log records to the caller, which logs them as its own."""

    def __init__(self, stream: BinaryIO | WriterThread):
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        message = {"name": record.name, "level": record.levelno, "message": record.getMessage()}
        write_message(self.stream, LOG, json.dumps(message).encode())


class WriterThread:
    """A stream written on a thread of its own, at most `ahead_bytes` behind its writer.

    The caller imports torch while its helper decodes, and the import holds the GIL for long stretches
    (loading torch's library, some 0.2 s at once), so the caller's reading thread cannot empty the pipe:
    written straight to the pipe, the helper waited 0.40-0.47 s of a 20-minute scan's 2 s on it
    (traced). Decoding on meanwhile, it ends sooner, and so does the scan: with the command's exit
    without teardown (`cli.main`), 20 minutes in 0.84x the time, paired, same output (BENCHMARKS.md,
    2026-12-04, eleventh session). A write error (the caller has gone) is raised by the next `write` or
    `close`."""

    def __init__(self, stream: BinaryIO, ahead_bytes: int):
        self.stream = stream
        self.ahead_bytes = ahead_bytes
        self.pending: collections.deque[bytes] = collections.deque()
        self.pending_bytes = 0
        self.closed = False
        self.error: OSError | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.write_pending, name="speakerspot-helper-writer", daemon=True)
        self.thread.start()

    def write(self, data: bytes) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.pending_bytes < self.ahead_bytes or self.error)
            if self.error:
                raise self.error
            self.pending.append(data)
            self.pending_bytes += len(data)
            self.changed.notify_all()

    def write_pending(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.pending or self.closed)
                if not self.pending:
                    return
                data = self.pending[0]
            try:
                self.stream.write(data)
            except OSError as error:
                with self.changed:
                    self.error = error
                    self.changed.notify_all()
                return
            with self.changed:
                self.pending.popleft()
                self.pending_bytes -= len(data)
                self.changed.notify_all()

    def close(self) -> None:
        """Write what is pending, then flush the stream."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.thread.join()
        if self.error:
            raise self.error
        self.stream.flush()


def main() -> None:
    """The helper: decode the recording the request names (or the pieces of it it names), writing
    messages to stdout."""
    request = json.loads(sys.argv[1])
    if "pieces" in request:  # a further helper (see `piece_helper`)
        ready = {"facts": RecordingFacts().to_json(), "resampled": False, "pieces": None}
        pieces = [Piece(**piece) for piece in request["pieces"]]
    else:
        ready, pieces = planned(request)
    out = sys.stdout.buffer
    try:
        writer = WriterThread(out, HELPER_AHEAD_BYTES if ready["resampled"] else HELPER_AHEAD_BYTES_AT_SOURCE_RATE)
        try:
            serve(request, ready, pieces, writer)
        finally:
            writer.close()
    except BrokenPipeError:  # the caller has stopped reading (an error, Ctrl-C): there is no one to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # so that the flush at exit cannot fail too
        sys.exit(1)


def planned(request: dict) -> tuple[dict, list[Piece] | None]:
    """What the first helper of a recording says when ready (its `audio.RecordingFacts`; whether it
    resamples: up to the caller's length; the pieces, if the recording is decoded in pieces), and the
    pieces it decodes."""
    track = TrackChoice(**request["track"])
    try:
        facts = recording_facts(request["path"], track)
        resamples = (facts.duration or 0) <= request["resample_up_to_seconds"]
        pieces = None
        if not resamples and request["decoders"] > 1:
            pieces = recording_pieces(request["path"], track, request["piece_seconds"])
    except MediaError:  # the decoding says what is wrong, as it would in the caller
        facts, resamples, pieces = RecordingFacts(), True, None
    ready = {"facts": facts.to_json(), "resampled": resamples,
             "pieces": pieces and [dataclasses.asdict(p) for p in pieces]}
    return ready, pieces and pieces[::request["decoders"]]


def serve(request: dict, ready: dict, pieces: list[Piece] | None, out: BinaryIO | WriterThread) -> None:
    """Say the helper is `ready` (see `planned`), then send its batches: of the recording, or of each of
    its `pieces` in turn, each piece's followed by PIECE_END."""
    logging.basicConfig(level=request["log_level"], handlers=[PipeHandler(out)])
    write_message(out, READY, json.dumps(ready).encode())
    try:
        if pieces is None:
            batches = decoded_batches(request["path"], TrackChoice(**request["track"]))
            for batch in resampled_batches(batches, request["sample_rate"]) if ready["resampled"] else batches:
                write_message(out, BATCH, pack_batch(batch))
        for piece in pieces or []:
            for batch in decoded_batches(request["path"], piece=piece):
                write_message(out, BATCH, pack_batch(batch))
            write_message(out, PIECE_END, b"")
    except BrokenPipeError:
        raise
    except MediaError as error:
        write_message(out, MEDIA_ERROR, json.dumps({"problem": error.problem}).encode())
    except Exception as error:
        write_message(out, OTHER_ERROR, json.dumps({"error": f"{error.__class__.__name__}: {error}"}).encode())
    else:
        write_message(out, END, b"")


if __name__ == "__main__":
    main()
