"""Open a container, pick its audio stream, decode + downmix + resample in timed chunks.

Everything streams: a recording is read packet by packet and handed on in chunks of a few seconds,
so memory does not depend on its length. Times are seconds from the start of the file as a player
shows it: the container's start time is 0:00, whatever the first PTS is.

PyAV is imported by the functions that use it, not with this module: a scan whose helper process
decodes (`decoder_process`) then never loads FFmpeg's libraries, 15 MB of its memory and 40-80 ms of
its start-up (BENCHMARKS.md, 2026-12-04, twelfth session).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import itertools
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .byte_sources import PIPE_READ_BYTES, FileTail, PipeBytes, pipe_of, pipe_view
from .config import TrackChoice
from .errors import MediaError
from .media_files import readable_once
from .service_tables import (
    PACKET_SIZES,
    SYNC_BYTE,
    SYNC_PACKETS,
    TS_PACKET_BYTES,
    PipeClock,
    broadcast_clock,
    file_broadcast_clock,
    head_of,
    is_programme,
    packet_layout,
    packets_begin,
    programmes_in,
)
from .sidecars import recorder_start
from .split_recordings import is_vdr_recording, is_vdr_transport_stream, open_recording, recording_size

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

CHUNK_SECONDS = 10.0
# The rate models compute their features at unless trained otherwise (`features.FrontEnd`).
DEFAULT_SAMPLE_RATE = 22050
MAX_DEMUX_RESTARTS = 10_000
# This many audio packets in a row that fail to decode mean the codec changed (or a long damaged
# stretch): the file is read again from the first of them. At most MAX_REOPENINGS times in a row with
# no audio decoded between them.
REOPEN_AFTER_FAILED_PACKETS = 8
MAX_REOPENINGS = 100
# An audio stream with a packet in this many bytes before another's last ran beside it, and does not take
# over from it (`stream_after`): 1.6 s of a 5 Mbit/s broadcast, where an audio stream has a packet every 24-32 ms.
STREAM_OVERLAP_BYTES = 1 << 20
# The audio of a recording that stops this long before its end, with nothing to carry on, is said to.
STOPPED_EARLY_SECONDS = 60.0
# An audio stream whose packets leave PAUSE_SECONDS of the recording between them, at its rate in bytes
# (`PauseLength`), paused: another stream may carry the programme meanwhile (`stream_after`), as in a
# regional window on other PIDs. At least MIN_PAUSE_BYTES (more than a burst of video between two audio
# packets), and at most STREAM_PAUSE_BYTES (13 s of a 5 Mbit/s broadcast), the length until the rate is known.
PAUSE_SECONDS = 10.0
MIN_PAUSE_BYTES = 1 << 18
STREAM_PAUSE_BYTES = 8 << 20
# A pipe keeps at most this many of the last bytes it brought, for a container to read again (`PipeBytes`).
# The spare: what FFmpeg reads ahead to tell a new container's streams (5 MB by default).
MAX_KEPT_PIPE_BYTES = STREAM_OVERLAP_BYTES + STREAM_PAUSE_BYTES + (16 << 20)
# Where a capture of a whole multiplex is looked at again for a channel silent at its start (see
# `programmes_with_audio`): a quarter, half and three quarters of the way in.
LATER_LOOKS = (0.25, 0.5, 0.75)
# FFmpeg reads this many bytes at most to tell a container's streams (its default), and a pipe read again
# at least this many (see `read_from`).
PROBE_BYTES = 5_000_000
MIN_PROBE_BYTES = 1 << 16
# A jump in timestamps larger than this is a gap in the audio (a lost packet run, a pause in the
# broadcast): later audio keeps its own time and the gap stays a gap.
GAP_SECONDS = 0.1
# Jumps backwards, or forwards by more than this, are timestamp discontinuities or wrap-arounds,
# not gaps: the samples are counted on as if continuous.
MAX_GAP_SECONDS = 6 * 3600.0
# MPEG-TS timestamps are 33 bits at 90 kHz: they wrap after about 26.5 hours.
MPEG_TS_WRAP_SECONDS = 2**33 / 90000
# A piece (see `Piece`) is decoded from this much audio before it, so that the decoder's state when its
# first frame comes is that of a decoding from the start (MP2's synthesis filter bank holds less than a
# frame); with fewer than WARMUP_FRAMES frames there, from further back (WARMUP_TRIES times at most).
WARMUP_SECONDS = 0.5
WARMUP_FRAMES = 2
WARMUP_TRIES = 4
# numpy types of FFmpeg's sample formats, to read decoded frames' planes without a copy (to_ndarray
# stacks them anew for every frame: a quarter of the time spent decoding an MP2 track).
SAMPLE_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}
# FFmpeg picks its fixed-point MP2 decoder; the floating-point one decodes the same frames, up to
# rounding, in 0.82 s instead of 1.44 s for 20 minutes of DVB audio (measured).
FASTER_DECODERS = {"mp2": "mp2float"}
MPEG_AUDIO_LAYERS = {3: "mp1", 2: "mp2", 1: "mp3"}  # by the layer bits of an MPEG audio frame header


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 `samples` at the decoder's sample rate, the first at `start` seconds; on the chunk after a
    pipe's time tables first told it, when the recording's 0:00 was broadcast (see `DecodedBatch`)."""

    start: float
    samples: np.ndarray
    broadcast_time: datetime.datetime | None = None


@dataclass(frozen=True)
class AudioStreamInfo:
    """What `info` shows about one audio stream of a container."""

    index: int
    pid: int | None  # an MPEG-TS stream's packet identifier, which a broadcast's tables name it by
    codec: str
    channels: int
    sample_rate: int
    language: str | None
    duration: float | None
    default: bool


# A command-line argument that names a stream by URL (http://, udp://…), which speakerspot reads through a pipe.
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open `path` with FFmpeg, turning every failure into a MediaError naming the file."""
    import av

    path = Path(path)
    if not path.exists():
        if URL.match(str(path)):  # the path joined its "//" into one
            url = str(path).replace(":/", "://", 1)
            fetch = (f"curl -sN '{url}'" if url.lower().startswith(("http:", "https:")) else
                     f"ffmpeg -nostdin -i '{url}' -map 0:a:0 -c copy -f mpegts -")
            raise MediaError(url, f"a URL, not a file: pipe the stream in, `{fetch} | speakerspot scan -`")
        raise MediaError(path, "no such file")
    vdr = is_vdr_recording(path)  # a folder of files read as one
    if path.is_dir() and not vdr:
        raise MediaError(path, "is a directory, not a recording")
    if (path.is_file() or vdr) and recording_size(path) == 0:  # a pipe has no size, and may be read
        raise MediaError(path, "is empty")
    try:
        if readable_once(path):
            return av.open(PipeBytes(path, MAX_KEPT_PIPE_BYTES).view(0), metadata_errors="ignore",
                           buffer_size=PIPE_READ_BYTES)
        if vdr:  # FFmpeg tells MPEG-PS (VDR's old PES) by its content
            return av.open(open_recording(path), format="mpegts" if is_vdr_transport_stream(path) else None,
                           metadata_errors="ignore")
        return av.open(str(path), metadata_errors="ignore")
    except av.error.EOFError:  # the file ends inside the headers FFmpeg reads to tell what it holds
        raise MediaError(path, "ends before FFmpeg can tell what it holds: cut short, or not a media file") from None
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        if readable_once(path):  # a pipe that brought nothing fails alike, and cannot be looked at again
            raise MediaError(path, "nothing FFmpeg can read came through the pipe: it was empty, or held "
                                   f"something else ({error.__class__.__name__})") from None
        raise MediaError(path, f"not a media file FFmpeg can read ({error.__class__.__name__})") from None
    except OSError as error:  # a pipe or device is opened here, for PipeBytes
        raise MediaError(path, f"cannot be opened ({error.strerror})") from None


def audio_streams(container: av.container.InputContainer) -> list[AudioStreamInfo]:
    """The container's audio streams, numbered 0, 1, … in file order (the `audio_track` numbers); the
    container is read for the MPEG audio layers (see `mpeg_audio_codecs`)."""
    import av

    layers = mpeg_audio_codecs(container)
    infos = []
    for number, stream in enumerate(container.streams.audio):
        # Matroska and WebM give a stream no duration of its own (FFmpeg: "?"): the recording's, as it states it
        duration = float(stream.duration * stream.time_base) if stream.duration else container_duration(container)
        infos.append(AudioStreamInfo(
            index=number, pid=stream.id if container.format.name == "mpegts" else None,
            # "mp3", not its decoder's name "mp3float"
            codec=layers.get(stream.index, stream.codec_context.codec.canonical_name),
            channels=stream.codec_context.channels,
            sample_rate=stream.codec_context.sample_rate, language=stream.language,
            duration=duration, default=bool(stream.disposition & av.stream.Disposition.default)))
    return infos


def mpeg_audio_codecs(container: av.container.InputContainer, max_packets: int = 2000) -> dict[int, str]:
    """"mp1", "mp2" or "mp3" for each MPEG audio stream of `container` (by index), as the frame header of
    its first packet says. FFmpeg's MPEG-TS demuxer calls every MPEG audio stream mp3 until its packets are
    parsed, and PyAV keeps that name: DVB's MP2 was listed as mp3. Read for `max_packets` of any stream at
    most (some 30 s of a broadcast): a stream a programme lists may never carry a packet, and a pipe may
    never end."""
    import av

    wanted = {s.index for s in container.streams.audio
              if s.codec_context.codec.canonical_name in MPEG_AUDIO_LAYERS.values()}
    codecs: dict[int, str] = {}
    packets = container.demux() if wanted else ()
    try:
        for packet in itertools.islice(packets, max_packets):
            if packet.stream.index in wanted and packet.stream.index not in codecs and packet.size:
                header = re.search(rb"\xff[\xe2-\xe7\xf2-\xf7\xfa-\xff]", bytes(packet))
                if header:
                    codecs[packet.stream.index] = MPEG_AUDIO_LAYERS[header.group()[1] >> 1 & 3]
                    if len(codecs) == len(wanted):
                        break
    except (av.error.FFmpegError, IndexError):  # damaged further on, or a stream that appears mid-file
        pass
    return codecs


def select_audio_stream(container: av.container.InputContainer, path: str | Path,
                        track: TrackChoice = TrackChoice()) -> av.audio.stream.AudioStream:
    """The audio stream numbered `track.audio_track`; else, of the streams of the channel named
    `track.programme` if given (see `streams_of_programme`), of those tagged with `track.language` if
    given, the main programme track as players pick it: the one the container marks as default, else
    the first. A track of another kind (audio description, which adds a narrator's voice; a track for
    the hearing impaired; effects without dialogue) is taken only when no other fits, as FFmpeg's own
    choice of a best stream passes over those for the impaired."""

    streams = list(container.streams.audio)
    if not streams:
        raise MediaError(path, "has no audio stream")
    if track.audio_track is not None:
        if not 0 <= track.audio_track < len(streams):
            raise MediaError(path, f"has {len(streams)} audio stream(s); there is no audio track {track.audio_track}")
        return streams[track.audio_track]
    if track.programme is not None:
        streams = streams_of_programme(container, path, streams, track.programme)
    if track.language is not None:
        spoken = [stream for stream in streams if (stream.language or "").lower() == track.language.lower()]
        if not spoken:
            found = ", ".join(sorted({s.language for s in streams if s.language})) or "none tagged"
            raise MediaError(path, f"has no audio stream in language {track.language!r} (languages: {found})")
        streams = spoken
    return main_track(streams)


def streams_of_programme(container: av.container.InputContainer, path: str | Path,
                         streams: list[av.audio.stream.AudioStream], programme: str,
                         ) -> list[av.audio.stream.AudioStream]:
    """Those of `streams` of the channel named `programme` (as `speakerspot info` lists it, case aside; see
    `container_programmes`). A capture of a whole multiplex numbers its tracks as their PIDs came, which
    differs from one capture to the next: by name, a batch of captures reads each one's channel."""
    programmes = container_programmes(container, path)
    chosen = [stream for stream in streams if is_programme(programmes.get(stream.id, ""), programme)]
    if not chosen:
        named = sorted({programmes[stream.id] for stream in streams if stream.id in programmes})
        found = f"programmes with audio: {', '.join(named)}" if named else "it names no programme"
        raise MediaError(path, f"has no audio track of a programme named {programme!r} ({found})")
    return chosen


def container_programmes(container: av.container.InputContainer, path: str | Path) -> dict[int, str]:
    """The programme (channel) of each stream of the recording `container` reads, by PID, as the broadcast's
    tables name it (see `service_tables`, `transport_head`)."""
    return programmes_in(transport_head(container, path))


def programmes_with_audio(path: str | Path) -> dict[str, bool]:
    """The channels of the capture of a whole multiplex at `path` that list an audio track, by name (as `info`
    lists them and `--programme` picks them), in the order of their first audio stream, each with whether FFmpeg
    heard a track of it: while it probed the capture's start, or for a channel silent there, further in (see
    `heard_further_in`); none where the recording holds one programme or none."""
    with open_container(path) as container:
        programmes = container_programmes(container, path)
        at_start = heard_at_start(container, programmes)
        format_name = container.format.name
    return heard_further_in(path, format_name, programmes, at_start) if len(at_start) > 1 else {}


def heard_at_start(container: av.container.InputContainer, programmes: dict[int, str]) -> dict[str, bool]:
    """The channels of `programmes` (see `container_programmes`) that list an audio track of `container`, in the
    order of their first audio stream, each with whether FFmpeg heard a track of it while it probed the start
    (one off air sends nothing: see `main_track`)."""
    heard: dict[str, bool] = {}
    for stream in container.streams.audio:
        if stream.id in programmes:
            name = programmes[stream.id]
            heard[name] = heard.get(name, False) or stream.codec_context.sample_rate > 0
    return heard


def heard_further_in(path: str | Path, format_name: str, programmes: dict[int, str],
                     at_start: dict[str, bool]) -> dict[str, bool]:
    """`at_start` (see `heard_at_start`) with each channel silent there looked for again at LATER_LOOKS of the way
    into the recording at `path` (a channel that shares its airtime with another, BBC Four after CBBC, comes on air
    later), and told heard where FFmpeg hears a track of it there; a pipe's as they are (it is read once)."""
    heard = dict(at_start)
    silent = {pid for pid, name in programmes.items() if heard.get(name) is False}
    if silent and not readable_once(path):
        size = recording_size(path)
        for fraction in LATER_LOOKS:
            for pid in pids_heard_from(path, int(size * fraction) // TS_PACKET_BYTES * TS_PACKET_BYTES, format_name,
                                       silent):
                heard[programmes[pid]] = True
            silent = {pid for pid in silent if not heard[programmes[pid]]}
    return heard


def pids_heard_from(path: str | Path, offset: int, format_name: str, pids: set[int]) -> set[int]:
    """Those of the audio streams `pids` FFmpeg hears while it probes the recording at `path` from byte `offset`
    on (none where it cannot read there)."""
    import av

    try:
        with av.open(FileTail(path, offset), format=format_name, metadata_errors="ignore") as container:
            return {stream.id for stream in container.streams.audio
                    if stream.id in pids and stream.codec_context.sample_rate > 0}
    except (av.error.FFmpegError, OSError):
        return set()


def transport_head(container: av.container.InputContainer, path: str | Path) -> bytes:
    """The first bytes of the MPEG-TS recording `container` reads (at `path`), where the broadcast's tables
    are read (see `service_tables`): of a file, its first HEAD_BYTES; of a pipe, those FFmpeg read to tell
    its streams. Empty for another container."""
    if container.format.name != "mpegts":
        return b""
    pipe = pipe_of(container)
    return pipe.kept() if pipe else head_of(path)


def main_track(streams: list[av.audio.stream.AudioStream]) -> av.audio.stream.AudioStream:
    """The first of the best of `streams`: a programme track before one aside (see `select_audio_stream`),
    one marked default before the others, then one FFmpeg has heard before one it has not: a stream the
    programme lists but that sent no packet while FFmpeg probed the recording (it knows no sample rate
    of it), as FFmpeg's own choice of a best stream passes over it. Until 2026-12-07 a recording whose
    first listed audio stream was such a one failed ("holds no decodable audio"), where ffmpeg maps the
    next."""
    import av

    aside = (av.stream.Disposition.visual_impaired | av.stream.Disposition.hearing_impaired
             | av.stream.Disposition.descriptions | av.stream.Disposition.clean_effects)
    return max(streams, key=lambda s: (not s.disposition & aside, bool(s.disposition & av.stream.Disposition.default),
                                       s.codec_context.sample_rate > 0))


def skip_other_streams(container: av.container.InputContainer, *streams: av.stream.Stream) -> None:
    """Let the demuxer drop the packets of every stream but `streams` unassembled, as the ffmpeg command
    does: a DVB recording's video is most of its bytes (decoding a 5 Mbit/s TS: 0.52 -> 0.41 s, measured)."""
    import av

    kept = {stream.index for stream in streams}
    for stream in container.streams:
        stream.discard = av.stream.Discard.default if stream.index in kept else av.stream.Discard.all


def container_origin(container: av.container.InputContainer) -> float:
    """The time (seconds) a player shows as 0:00."""
    import av

    return container.start_time / av.time_base if container.start_time is not None else 0.0


def container_duration(container: av.container.InputContainer) -> float | None:
    """The recording's duration in seconds, as its header states it (None where it does not)."""
    import av

    return container.duration / av.time_base if container.duration else None


def decode_audio(path: str | Path, sample_rate: int, track: TrackChoice = TrackChoice(),
                 chunk_seconds: float = CHUNK_SECONDS) -> Iterator[AudioChunk]:
    """Decode the audio stream `track` picks (see `select_audio_stream`) of `path` to mono float32 at
    `sample_rate` Hz, in timed chunks.

    Multichannel audio is downmixed with FFmpeg's matrix (the centre channel, where dialogue
    lives, is kept at full weight). Packets that fail to decode are skipped with a warning; a
    change of format mid-stream is followed, of layout or rate (stereo, then 5.1) and of codec on
    the same stream (MP2, then AC3 when the film starts; see `follow_codec_changes`).
    """
    yield from resampled_chunks(decoded_batches(path, track), sample_rate, chunk_seconds)


@dataclass(frozen=True)
class DecodedBatch:
    """About a second of consecutive decoded frames of one format, downmixed to mono float32 at their rate."""

    start: float  # seconds, of the first sample
    after_gap: bool  # audio is missing before it: it starts a run of its own
    rate: int
    samples: np.ndarray
    # `start` less the first frame's timestamp (from the recording's 0:00): where the timestamps jumped
    # (a discontinuity), the audio is counted on and this moves (see `Timeline`)
    rebase: float = 0.0
    # When the recording's 0:00 was broadcast, on the batch after a pipe's time tables first told it (a
    # file's is read before its audio: see `recording_facts`)
    broadcast_time: datetime.datetime | None = None


def decoded_batches(path: str | Path, track: TrackChoice = TrackChoice(),
                    piece: Piece | None = None) -> Iterator[DecodedBatch]:
    """The first half of `decode_audio`: demuxing, decoding and downmixing, in batches not yet resampled;
    of one `piece` of the recording only, if given (see `Piece`).

    Downmixing comes first so that the helper process sends the fewest bytes: mono float is a sixth of
    5.1 float, and MP2 decodes fastest to float (see FASTER_DECODERS).
    """
    with contextlib.ExitStack() as opened:
        clock = None
        if piece is None:
            container = opened.enter_context(open_container(path))
            stream = select_audio_stream(container, path, track)
            skip_other_streams(container, stream)
            origin = container_origin(container)
            if (pipe := pipe_of(container)) and container.format.name == "mpegts":
                # from the pipe's first bytes, which FFmpeg read to open it, on
                clock = PipeClock(pipe.kept(), stream.id, origin)
                pipe.on_bytes = clock.add
            frames = follow_codec_changes(container, stream, path, opened)
        else:
            frames = piece_frames(path, piece, opened)
            origin = piece.origin
        batch = FrameBatch()
        timeline = Timeline(path)
        for frame, start, after_gap, rebase in timeline.placed(frames, origin):
            signature = FrameBatch.signature_of(frame)
            if batch.samples and (after_gap or batch.full() or signature != batch.signature
                                  or abs(rebase - batch.rebase) > GAP_SECONDS):
                yield batch.take(clock)
            batch.append(frame, signature, start, after_gap, rebase)
        if batch.samples:
            yield batch.take(clock)
        if timeline.failed_packets:
            log.warning("%s: skipped %d packet(s) that failed to decode", path, timeline.failed_packets)
        if timeline.end is None and piece is None:  # a piece may fall in a gap in the audio
            others = len(container.streams.audio) - 1
            raise MediaError(path, "its audio stream holds no decodable audio" + (
                f"; it has {others} other audio stream{'s' if others > 1 else ''}: `speakerspot info` lists them, "
                "--audio-track picks one" if others else ""))


class Timeline:
    """Where decoded frames go in the scan's times, from their timestamps (seconds from the recording's
    0:00; None where a frame has none).

    Audio is counted on, frame after frame, while the timestamps follow it (to GAP_SECONDS). A frame
    whose timestamp steps away is placed once the next frame says whether the timestamps go on from it.
    If they do, a step forward of up to MAX_GAP_SECONDS is a gap in the audio, which stays a gap; any
    other step (back, or further forward: a discontinuity) is a jump: the audio is counted on, and the
    timestamps are read on from where they jumped to (`rebase`), so that a gap after it is a gap. If
    they do not, that frame's timestamp alone was wrong (a bit flipped by a reception error put it
    seconds or hours ahead): it is counted on, and the times after it do not move."""

    def __init__(self, path: str | Path):
        self.path = path  # named in the diagnostics (`speakerspot -v`)
        self.end: float | None = None  # where the audio placed so far ends
        self.rebase = 0.0  # from the timestamps to the times given
        self.failed_packets = 0  # passed over by `placed`

    def place(self, timestamp: float | None, seconds: float, step: float | None,
              goes_on: bool = True) -> tuple[float, bool, float]:
        """(start, whether audio is missing before it, start less timestamp) of a frame of `seconds` at
        `timestamp`, `step` seconds after where the audio before it ends (the short way round the wrap;
        None: not known); `goes_on`: whether the timestamps after it go on from its own."""
        after_gap = False
        if self.end is None:
            self.end = timestamp if timestamp is not None else 0.0
        elif step is not None and abs(step) > GAP_SECONDS:
            after_gap = goes_on and audio_missing(step)
            if after_gap:
                log.info("%s: %.2f s of audio missing at %.2f s", self.path, step, self.end)
                self.end += step
            elif goes_on:
                log.info("%s: timestamps jump by %+.2f s at %.2f s: the audio is counted on", self.path, step, self.end)
                self.rebase -= step
            else:
                log.info("%s: a frame's timestamp is %+.2f s off at %.2f s, the next frame's not: counted on",
                         self.path, step, self.end)
        start = self.end
        self.end += seconds
        return start, after_gap, self.rebase if timestamp is None else start - timestamp

    def placed(self, frames: Iterable[av.AudioFrame | FailedPacket],
               origin: float) -> Iterator[tuple[av.AudioFrame, float, bool, float]]:
        """(frame, `place`'s three) for each decoded frame, a frame whose timestamp steps away held until
        the next comes; packets that failed to decode are counted and passed over."""
        held: tuple[av.AudioFrame, float, float, float] | None = None  # frame, timestamp, seconds, step
        for frame in frames:
            if isinstance(frame, FailedPacket):
                self.failed_packets += 1
                continue
            timestamp = None if frame.time is None else frame.time - origin
            seconds = frame.samples / frame.sample_rate
            if held is not None:
                held_frame, held_timestamp, held_seconds, held_step = held
                goes_on = timestamp is not None and abs(timestamp_step(timestamp, held_timestamp + held_seconds)) \
                    <= GAP_SECONDS
                yield held_frame, *self.place(held_timestamp, held_seconds, held_step, goes_on)
                held = None
            step = None if self.end is None or timestamp is None else timestamp_step(timestamp + self.rebase, self.end)
            if step is not None and abs(step) > GAP_SECONDS:
                held = frame, timestamp, seconds, step
            else:
                yield frame, *self.place(timestamp, seconds, step)
        if held is not None:  # the last frame: nothing after it says otherwise
            yield held[0], *self.place(*held[1:])


@dataclass(frozen=True)
class Piece:
    """The audio of the packets that begin in bytes [start, end) of an MPEG-TS recording: of the stream
    whose PID is `stream_id`, timed from `origin` (the recording's 0:00, in seconds of its timestamps),
    decoded from `warmup_bytes` before `start` on (see WARMUP_SECONDS).

    Several processes decode a long recording's pieces in turn (`decoder_process`), and `joined_pieces`
    puts them together: the same samples as one decoding from the start, where the codec decodes a
    frame alike whatever came before it a frame back (MP2; AC3's dither differs from one decoding to
    another); times as a player shows them across a timestamp wrap."""

    stream_id: int
    origin: float
    start: int
    end: int
    warmup_bytes: int


def recording_pieces(path: str | Path, track: TrackChoice, piece_seconds: float) -> list[Piece] | None:
    """The stream `track` picks (see `select_audio_stream`) of the recording at `path`
    in pieces of about `piece_seconds`, cut by bytes; None where it cannot be cut: not an MPEG-TS file
    (other containers cannot be read from the middle), of unknown length, or whose audio goes on in other
    streams (see `reaches_the_end`)."""
    if readable_once(path):
        return None
    with open_container(path) as container:
        seconds = container_duration(container)
        if container.format.name != "mpegts" or not seconds:
            return None
        stream = select_audio_stream(container, path, track)
        size = recording_size(path)
        if not reaches_the_end(path, stream, size, seconds):
            log.info("%s: the audio stream of PID %#x stops before the end of the recording: read from the start "
                     "to the end in one piece, to follow the streams that carry on", path, stream.id)
            return None
        count = max(1, round(seconds / piece_seconds))
        # Timestamps that jump (recordings spliced) make the duration hours too long: no piece is empty.
        bounds = sorted({size * k // count // TS_PACKET_BYTES * TS_PACKET_BYTES for k in range(count)} | {size})
        warmup = math.ceil(size / seconds * WARMUP_SECONDS / TS_PACKET_BYTES) * TS_PACKET_BYTES
        return [Piece(stream.id, container_origin(container), start, end, warmup)
                for start, end in itertools.pairwise(bounds)]


def reaches_the_end(path: str | Path, stream: av.audio.stream.AudioStream, size: int, seconds: float) -> bool:
    """Whether the MPEG-TS file at `path`, of `size` bytes and `seconds`, has a packet of `stream` in its last
    bytes a pause would take (see `pause_bytes`; or cannot be read there). Pieces are each read for the stream
    the recording begins with: where the programme goes on in other streams (a channel's new PIDs, recordings
    joined with `cat`), only a reading from the start follows them (see `stream_after`); until 2026-12-07,
    with several decoders, the rest was lost."""
    import av

    first = max(0, size - pause_bytes(size / seconds)) // TS_PACKET_BYTES * TS_PACKET_BYTES
    try:
        with contextlib.ExitStack() as opened:
            container, there = read_from(path, first, "mpegts", stream.id, opened)
            return there is not None and any(packet.size for packet in container.demux(there))
    except av.error.FFmpegError:  # damaged there: the pieces say so as they are read
        return True


def piece_frames(path: str | Path, piece: Piece,
                 opened: contextlib.ExitStack) -> Iterator[av.AudioFrame | FailedPacket]:
    """`follow_codec_changes` for the packets of `piece`, from a decoder that has decoded the audio before
    it (WARMUP_FRAMES at least, unless the piece starts the file)."""
    import av

    for attempt in range(WARMUP_TRIES):
        first = max(0, piece.start - piece.warmup_bytes * 4**attempt) // TS_PACKET_BYTES * TS_PACKET_BYTES
        try:
            container, stream = read_from(path, first, "mpegts", piece.stream_id, opened)
        except av.error.FFmpegError as error:  # as a decoding from the start meets damage: the rest goes on
            log.warning("%s: bytes %d-%d skipped: %s", path, piece.start, piece.end, demux_failure(error))
            return
        if stream is None:
            log.warning("%s: bytes %d-%d skipped: the audio stream is not found there", path, piece.start, piece.end)
            return
        warmup_frames = WARMUP_FRAMES if first and attempt < WARMUP_TRIES - 1 else 0
        try:
            yield from follow_codec_changes(container, stream, path, opened, first,
                                            (piece.start, piece.end, warmup_frames))
            return
        except ShortWarmup:  # raised before any frame of the piece: start again, further back
            continue


class ShortWarmup(Exception):
    """Fewer frames than needed were decoded before a piece's first (see `piece_frames`)."""


def audio_missing(step: float) -> bool:
    """Whether a `timestamp_step` this long between where the audio read ends and the next frame is a gap
    (see GAP_SECONDS and MAX_GAP_SECONDS), not a jitter, jump or wrap of the timestamps."""
    return GAP_SECONDS < step < MAX_GAP_SECONDS


def timestamp_step(later: float, earlier: float) -> float:
    """Seconds from timestamp `earlier` to `later` the short way round the MPEG-TS wrap: FFmpeg does not
    always unwrap them, and a gap just after a wrap is a gap still (elsewhere, a step of some 26.5 hours
    between consecutive frames is not met)."""
    half = MPEG_TS_WRAP_SECONDS / 2
    return (later - earlier + half) % MPEG_TS_WRAP_SECONDS - half


def joined_pieces(pieces: Iterable[Iterable[DecodedBatch]]) -> Iterator[DecodedBatch]:
    """The batches of consecutive pieces of a recording (`decoded_batches` of each `Piece`) as those of
    the whole: each piece's times follow on from the running count of samples, as a decoding from the
    start counts them across a timestamp wrap or jump (see GAP_SECONDS), or, where audio is missing
    before the piece (its timestamps say so, read on from the last piece's), start after the gap."""
    end: float | None = None  # where the audio so far ends, in the joined times
    timestamps_end = 0.0  # and in the timestamps (see `DecodedBatch.rebase`)
    for piece in pieces:
        shift = 0.0  # from the piece's times to the joined ones
        for number, batch in enumerate(piece):
            if number == 0 and end is not None:
                step = timestamp_step(batch.start - batch.rebase, timestamps_end)
                after_gap = audio_missing(step)
                shift = end + (step if after_gap else 0.0) - batch.start
                batch = replace(batch, start=batch.start + shift, after_gap=after_gap, rebase=batch.rebase + shift)
            elif batch.after_gap:
                batch = replace(batch, start=batch.start + shift, rebase=batch.rebase + shift)
            if end is None or batch.after_gap:
                end = batch.start
            end += len(batch.samples) / batch.rate
            timestamps_end = batch.start - batch.rebase + len(batch.samples) / batch.rate
            yield batch


class FrameBatch:
    """Decoded frames of one format collected into a `DecodedBatch`: numpy views of their planes."""

    BATCH_SECONDS = 1.0

    def __init__(self):
        self.downmixer = Resampler(None)
        self.planes: list[list[np.ndarray]] = []  # per plane, the frames' arrays
        self.samples = 0
        self.start = 0.0
        self.after_gap = False
        self.rebase = 0.0
        self.signature: tuple[str, str, int] | None = None
        self.dtype: type | None = None  # None: a format read with to_ndarray
        self.values_per_sample = 1  # in one plane: 1 if planar, else the number of channels

    @staticmethod
    def signature_of(frame: av.AudioFrame) -> tuple[str, str, int]:
        return frame.format.name, frame.layout.name, frame.sample_rate

    def full(self) -> bool:
        return self.samples >= self.BATCH_SECONDS * self.signature[2]

    def append(self, frame: av.AudioFrame, signature: tuple[str, str, int], start: float, after_gap: bool,
               rebase: float = 0.0) -> None:
        """Add `frame`, whose `signature_of` is `signature`, whose first sample is at `start` seconds (its
        timestamp plus `rebase`) and which follows a gap in the audio if `after_gap` (it then starts a
        batch: see `decoded_batches`)."""
        if signature != self.signature:
            self.signature = signature
            self.dtype = SAMPLE_DTYPES.get(frame.format.packed.name)
            self.values_per_sample = 1 if frame.format.is_planar else len(frame.layout.channels)
        if self.dtype is None:
            arrays = list(frame.to_ndarray())
        else:
            arrays = [np.frombuffer(plane, self.dtype, frame.samples * self.values_per_sample)
                      for plane in frame.planes]
        if not self.planes:
            self.planes, self.start, self.after_gap, self.rebase = [[] for _ in arrays], start, after_gap, rebase
        for plane, array in zip(self.planes, arrays, strict=True):
            plane.append(array)
        self.samples += frame.samples

    def take(self, clock: PipeClock | None = None) -> DecodedBatch:
        """The frames collected so far, as one batch (with when the recording's 0:00 was broadcast where
        `clock`, a pipe's, first tells it); the next batch starts empty."""
        aired = clock.told(self.start) if clock else None
        format_name, layout, rate = self.signature
        planes = np.empty((len(self.planes), sum(len(array) for array in self.planes[0])), self.planes[0][0].dtype)
        for row, plane in zip(planes, self.planes, strict=True):
            np.concatenate(plane, out=row)  # straight into the batch's array: one copy of the samples
        self.planes, self.samples = [], 0
        if format_name == "fltp":  # what MP2, AC3 and AAC decode to: most broadcasts
            samples = mono_downmix_weights(layout) @ planes
        else:
            samples = self.downmixer.resample(planes, format_name, layout, rate)
        return DecodedBatch(self.start, self.after_gap, rate, samples, self.rebase, aired)


def resampled_chunks(batches: Iterable[DecodedBatch], sample_rate: int,
                     chunk_seconds: float = CHUNK_SECONDS) -> Iterator[AudioChunk]:
    """The second half of `decode_audio`: batches downmixed and resampled, in timed chunks."""
    yield from timed_chunks(resampled_batches(batches, sample_rate), sample_rate, chunk_seconds)


def resampled_batches(batches: Iterable[DecodedBatch], sample_rate: int) -> Iterator[DecodedBatch]:
    """`batches` at `sample_rate`; what the resampler holds at a gap and at the end comes as a batch
    of its own, before the batch after the gap (whose `after_gap` it keeps) and last."""
    resampler = Resampler(sample_rate)
    for batch in batches:
        if batch.after_gap:
            yield from held_batch(resampler, sample_rate)
        samples = resampler.resample(batch.samples[None], "flt", "mono", batch.rate)
        yield DecodedBatch(batch.start, batch.after_gap, sample_rate, samples, batch.rebase, batch.broadcast_time)
    yield from held_batch(resampler, sample_rate)


def held_batch(resampler: Resampler, sample_rate: int) -> Iterator[DecodedBatch]:
    """What `resampler` still holds, drained, as a batch that continues the one before it (if anything)."""
    held = resampler.drain()
    if len(held):
        yield DecodedBatch(0.0, False, sample_rate, held)  # its start is not read: it continues a run


def timed_chunks(batches: Iterable[DecodedBatch], sample_rate: int,
                 chunk_seconds: float = CHUNK_SECONDS) -> Iterator[AudioChunk]:
    """Batches already at `sample_rate` in chunks of `chunk_seconds`, timed from the first batch's start
    and from that of each batch after a gap."""
    chunker = Chunker(sample_rate, int(chunk_seconds * sample_rate))
    for batch in batches:
        if chunker.start is None:
            chunker.start = batch.start
        elif batch.after_gap:
            yield from chunker.restart(batch.start)
        chunker.broadcast_time = batch.broadcast_time or chunker.broadcast_time
        yield from chunker.add(batch.samples)
    yield from chunker.restart(None)


class Resampler:
    """FFmpeg's resampler to mono float32 at `sample_rate` (None: the input's rate, a downmix only), made
    anew (the old one drained) when the input's format changes.

    Multichannel audio is downmixed with FFmpeg's matrix (the centre channel, where dialogue lives,
    is kept at full weight)."""

    def __init__(self, sample_rate: int | None):
        self.sample_rate = sample_rate
        self.signature: tuple[str, str, int] | None = None
        self.resampler: av.AudioResampler | None = None

    def resample(self, planes: np.ndarray, format_name: str, layout: str, rate: int) -> np.ndarray:
        """`planes` ((planes, values): one plane per channel if the format is planar, else one of
        interleaved values) as mono at the target rate, after what the resampler still held of an
        earlier format."""
        import av

        held = np.zeros(0, np.float32)
        if (format_name, layout, rate) != self.signature:
            held = self.drain()
            self.signature = format_name, layout, rate
            self.resampler = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
        frame = av.AudioFrame.from_ndarray(planes, format=format_name, layout=layout)
        frame.sample_rate = rate
        samples = mono_samples(self.resampler.resample(frame))
        return np.concatenate([held, samples]) if len(held) else samples

    def drain(self) -> np.ndarray:
        """What the resampler still holds: at the end, before a gap or a format change."""
        held = mono_samples(self.resampler.resample(None)) if self.resampler else np.zeros(0, np.float32)
        self.resampler = self.signature = None
        return held


@functools.cache
def mono_downmix_weights(layout: str) -> np.ndarray:
    """FFmpeg's weight of each channel of planar float audio in `layout` when it downmixes it to mono
    (the centre channel of 5.1 at full weight): its resampler's output for each channel alone at 1.

    With these, numpy downmixes a batch as FFmpeg would, at a fifth of the resampler's cost for stereo
    (measured); a 20-minute AC3 5.1 track through the resampler took 1.7 s of the 5.3 s its decoding
    took (profiled)."""
    import av

    channels = len(av.AudioLayout(layout).channels)
    # Interleaved: PyAV cannot make a planar frame of more than 7 channels (7.1: IndexError).
    frame = av.AudioFrame.from_ndarray(np.eye(channels, dtype=np.float32).reshape(1, -1), format="flt", layout=layout)
    frame.sample_rate = 48000  # any rate: the weights do not depend on it
    resampler = av.AudioResampler(format="flt", layout="mono", rate=frame.sample_rate)
    return mono_samples(resampler.resample(frame) + resampler.resample(None))


def mono_samples(frames: list[av.AudioFrame]) -> np.ndarray:
    """The samples of the resampler's mono float frames, as one array."""
    return np.concatenate([f.to_ndarray()[0] for f in frames]) if frames else np.zeros(0, np.float32)


class Chunker:
    """Collects resampled samples into timed chunks of about `chunk_samples`."""

    def __init__(self, sample_rate: int, chunk_samples: int):
        self.sample_rate, self.chunk_samples = sample_rate, chunk_samples
        self.start: float | None = None  # time of the first pending sample
        self.pending: list[np.ndarray] = []
        self.count = 0  # pending samples
        self.broadcast_time: datetime.datetime | None = None  # for the next chunk (see `AudioChunk`)

    def add(self, samples: np.ndarray) -> Iterator[AudioChunk]:
        if len(samples):
            self.pending.append(samples)
            self.count += len(samples)
        if self.count >= self.chunk_samples:
            yield from self.restart(self.start + self.count / self.sample_rate)

    def restart(self, start: float | None) -> Iterator[AudioChunk]:
        """Hand on what is pending; what comes next starts at `start`."""
        if self.count:
            yield AudioChunk(self.start, np.concatenate(self.pending), self.broadcast_time)
            self.broadcast_time = None
        self.start, self.pending, self.count = start, [], 0


@dataclass(frozen=True)
class FailedPacket:
    """A packet of the audio stream that failed to decode, and its byte position in the file (-1: unknown)."""

    position: int


@dataclass(frozen=True)
class StreamEnd:
    """The demuxer read to the end of the file; the audio stream's last packet began at byte `position`
    (-1: no packet's position is known)."""

    position: int


@dataclass(frozen=True)
class StreamPause:
    """No packet of the audio stream began in more than a pause's bytes of the file (see `PauseLength`):
    between the packet at byte `last` and the next one, at byte `next`."""

    last: int
    next: int


def pause_bytes(bytes_per_second: float) -> int:
    """The bytes of a recording at `bytes_per_second` without a packet of an audio stream that make a pause
    of it: PAUSE_SECONDS, within [MIN_PAUSE_BYTES, STREAM_PAUSE_BYTES]."""
    return min(STREAM_PAUSE_BYTES, max(MIN_PAUSE_BYTES, round(bytes_per_second * PAUSE_SECONDS)))


class PauseLength:
    """How many bytes without a packet of an audio stream make a pause (`bytes`, see `pause_bytes`), at the recording's
    rate as the stream's packets measure it: the bytes they span over the seconds their timestamps do, since
    the first of a run without a jump. 8 MB, which a 5 Mbit/s channel brings in 13 s, a radio service's
    stream (some 20 kB/s) brings in 7 minutes: on a pipe, its new PIDs were taken that much later."""

    RUN_SECONDS = 2.0  # the rate is measured over a run at least this long
    MAX_STEP_SECONDS = 1.0  # timestamps that step back, or on by more, begin a run

    def __init__(self):
        self.bytes = STREAM_PAUSE_BYTES
        self.run: tuple[int, float] | None = None  # (byte, seconds) of the run's first packet
        self.last_seconds: float | None = None

    def count(self, position: int, seconds: float | None) -> None:
        """A packet at byte `position` timed `seconds` (None: untimed, not counted) counts towards the rate."""
        if seconds is None:
            return
        if self.last_seconds is None or not 0 < seconds - self.last_seconds <= self.MAX_STEP_SECONDS:
            self.run = (position, seconds)
        elif seconds - self.run[1] >= self.RUN_SECONDS:
            self.bytes = pause_bytes((position - self.run[0]) / (seconds - self.run[1]))
        self.last_seconds = seconds


def follow_codec_changes(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                         path: str | Path, reopened: contextlib.ExitStack, offset: int = 0,
                         piece: tuple[int, int, int] | None = None) -> Iterator[av.AudioFrame | FailedPacket]:
    """`iterate_frames` (of the container reading the file from byte `offset` on; of the bytes `piece`
    says only), and when the stream's packets stop decoding for a run, the file read again from the
    first of them, so that FFmpeg probes the codec afresh.

    DVB broadcasters switch codec on the same stream (MP2 stereo, then AC3 5.1 when the film
    starts); FFmpeg keeps decoding with the first codec and every packet fails. Timestamps in such
    a file are absolute, so times go on unchanged across the reopening. A pipe is read again alike, from
    the bytes it keeps (see PipeBytes).

    Where the demuxer stops on damaged bytes in an MPEG-TS file (a run of zeros from a failed disk block
    or copy: FFmpeg gives up where it finds no packet in the next 100-200 kB), the file is read again
    from where its packets begin again (`after_damage`), and the audio after the damage keeps its time;
    until 2026-12-04, 100 kB of zeros 40% into a 20-minute recording lost the last 60% of it.

    Where the stream's packets stop before the end of the file, or pause (see `PauseLength`), and an
    audio stream that begins there carries on (`stream_after`), that one is read to the end or until
    this one goes on (not within a piece: each is read for its own stream). A pipe cannot be read
    ahead: where the stream stops for a pause of it (see PipeView), the one that
    carries on is read until it stops in turn; with none, the pipe is read on after its last packet, for
    the stream read first where that one is there, else for this one.
    """

    # The container last opened here, closed once the next is open: a live channel's codec changes
    # every film, for weeks. At most MAX_REOPENINGS in a row with no audio between them.
    current = contextlib.ExitStack()
    reopened.callback(lambda: current.close())
    reopenings = 0
    first_id = stream.id
    while reopenings <= MAX_REOPENINGS:
        failed_run: list[FailedPacket] = []  # held back: they are read again if the file is reopened
        ended_at = None
        ended = False  # the stream's packets stopped; False after a break: a codec change, or damage
        for frame in iterate_frames(container, stream, path, offset, piece):
            if isinstance(frame, StreamEnd):  # the last
                ended_at = frame.position
                continue
            if isinstance(frame, StreamPause):  # another stream may carry the programme meanwhile
                yield from failed_run
                failed_run.clear()
                following = None if piece else stream_after(path, container, stream, frame.last, reopened)
                if following is not None:
                    yield from follow_codec_changes(*following, path, reopened, frame.last, (frame.last, frame.next, 0))
                    log.info("%s: the audio stream of PID %#x goes on at byte %d", path, stream.id, frame.next)
                continue
            if isinstance(frame, DamagedData):
                yield from failed_run
                offset = after_damage(path, container, frame, piece)
                if offset is None:
                    return
                break
            if isinstance(frame, FailedPacket):
                failed_run.append(frame)
                # Not where this container starts: FFmpeg probed the codec there, the packets are damaged.
                if len(failed_run) >= REOPEN_AFTER_FAILED_PACKETS and failed_run[0].position > offset:
                    offset = failed_run[0].position
                    break
                continue
            yield from failed_run
            failed_run.clear()
            reopenings = 0
            yield frame
        else:
            # A piece may end on the first packets of a new codec (the next piece's decoder probes it afresh).
            ended = piece is None or not failed_run or failed_run[0].position <= offset
            if ended:
                yield from failed_run
                if piece is not None or ended_at is None:
                    return
            else:
                offset = failed_run[0].position
        following_stack = contextlib.ExitStack()
        if ended:  # the stream's packets stopped: another may carry on
            following, offset = stream_after(path, container, stream, ended_at, following_stack), ended_at
            view = pipe_view(container)
            if following is None and view is not None and view.paused:
                # A pipe that goes on: read on after this stream's last packet, for the stream read first
                # where it is there (back after a regional window, its first packets before this one's
                # last: not "after" it), else for this one, which may come back.
                offset = ended_at + TS_PACKET_BYTES
                following = read_again(path, container, stream, offset, following_stack, rather=first_id)
            elif following is None:
                warn_if_stopped_early(path, container, ended_at)
        else:  # the packets stopped decoding, or the demuxer on damage
            piece = piece and (piece[0], piece[1], 0)  # the decoder starts afresh at `offset`, as from the start
            following = read_again(path, container, stream, offset, following_stack, any_audio=True)
            if following is not None:
                log.info("%s: audio format changed at byte %d: now %s", path, offset,
                         following[1].codec_context.name)
        if following is None:
            following_stack.close()
            return
        current.close()
        current = following_stack
        container, stream = following
        reopenings += 1
    log.warning("%s: reading stopped early at byte %d: read again %d times in a row with no audio", path, offset,
                MAX_REOPENINGS)


def read_again(path: str | Path, container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
               offset: int, opened: contextlib.ExitStack, any_audio: bool = False, rather: int | None = None,
               ) -> tuple[av.container.InputContainer, av.audio.stream.AudioStream] | None:
    """`stream` of the recording `container` reads, read again from byte `offset` on (closed with `opened`):
    rather the stream whose PID is `rather`, where there is one there; with `any_audio`, the first audio
    stream there where its PID is gone (a codec change may come with new PIDs). None, with a warning that
    reading stopped, where FFmpeg fails there or finds no such stream."""
    import av

    try:
        again, same = read_from(path, offset, container.format.name, stream.id, opened, pipe_of(container))
    except av.error.FFmpegError as error:
        log.warning("%s: reading stopped early at byte %d: %s", path, offset, demux_failure(error))
        return None
    preferred = next((s for s in again.streams.audio if s.id == rather), None)
    if preferred is None and same is None and any_audio and again.streams.audio:
        preferred = again.streams.audio[0]
    if preferred is not None and preferred is not same:  # `read_from` skipped the streams but `same`
        same = preferred
        skip_other_streams(again, same)
    if same is None:
        log.warning("%s: reading stopped early: no audio stream after byte %d", path, offset)
        return None
    return again, same


def read_from(path: str | Path, offset: int, format_name: str, stream_id: int, opened: contextlib.ExitStack,
              pipe: PipeBytes | None = None,
              ) -> tuple[av.container.InputContainer, av.audio.stream.AudioStream | None]:
    """The file at `path` (or the `pipe` it is) read from byte `offset` on as a container of `format_name`
    (closed with `opened`), and its audio stream whose PID is `stream_id`, the other streams skipped (None
    where there is none). FFmpeg's errors are raised."""
    import av

    if pipe is None:
        container = av.open(FileTail(path, offset), format=format_name, metadata_errors="ignore")
    else:
        # FFmpeg tells the streams from what the pipe has brought since `offset`: a stream the programme lists
        # but never sends made it wait for PROBE_BYTES more (three minutes of a radio service).
        probe = min(PROBE_BYTES, max(pipe.received - offset, MIN_PROBE_BYTES))
        container = av.open(pipe.view(offset), format=format_name, metadata_errors="ignore",
                            buffer_size=PIPE_READ_BYTES, container_options={"probesize": str(probe)})
    opened.enter_context(container)
    stream = next((s for s in container.streams.audio if s.id == stream_id), None)
    if stream is not None:
        skip_other_streams(container, stream)
    return container, stream


def stream_after(path: str | Path, container: av.container.InputContainer, ended: av.audio.stream.AudioStream,
                 position: int, opened: contextlib.ExitStack,
                 ) -> tuple[av.container.InputContainer, av.audio.stream.AudioStream] | None:
    """The audio stream the recording `container` reads goes on with where `ended` stops (its last packet at
    byte `position`), read from there on (closed with `opened`): of the audio streams that begin after it
    (none of their packets in the STREAM_OVERLAP_BYTES before), the one in `ended`'s language if tagged,
    else the main programme track (see `select_audio_stream`). None where there is none: the recording
    ends with `ended`, or the streams that go on after it ran beside it (another language, a commentary).
    A pipe is read again from the bytes it keeps (see PipeBytes).

    Players follow a programme's new streams: a channel's new PIDs after a programme change, recordings of
    two channels joined with `cat`. Read only for the stream it began with, such a recording lost the rest."""
    import av

    format_name, pipe = container.format.name, pipe_of(container)
    if format_name != "mpegts" or position < 0:  # other containers cannot be read from the middle;
        return None  # a stream of no packet has no end to go on from
    try:
        with contextlib.ExitStack() as looked_at:  # a stream of a closed container is not to be read
            there, _ = read_from(path, position, format_name, ended.id, looked_at, pipe)
            after = [s for s in there.streams.audio if s.id != ended.id]
            if after:
                beside = audio_streams_before(path, container, ended, position, looked_at)
                after = [s for s in after if s.id not in beside]
            if not after:
                return None
            spoken = [s for s in after if ended.language and s.language == ended.language]
            following = main_track(spoken or after).id
        container, stream = read_from(path, position, format_name, following, opened, pipe)
    except (av.error.FFmpegError, IndexError):  # IndexError: PyAV fails on a stream that appears mid-demux
        return None
    if stream is None:
        return None
    log.info("%s: the audio stream of PID %#x stops at byte %d; PID %#x carries on from there", path,
             ended.id, position, stream.id)
    return container, stream


def warn_if_stopped_early(path: str | Path, container: av.container.InputContainer, position: int) -> None:
    """Warn where the audio stream ended at byte `position` more than STOPPED_EARLY_SECONDS before the end of
    an MPEG-TS file (at its bit rate) and no stream carried on: the rest of the recording is not scanned."""
    if container.format.name != "mpegts" or readable_once(path) or position < 0 or not container.bit_rate:
        return
    size = recording_size(path)
    seconds = (size - position) * 8 / container.bit_rate
    if seconds > STOPPED_EARLY_SECONDS:
        before = f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"
        log.warning("%s: its audio stops some %s before the end of the recording (at byte %d of %d), and no audio "
                    "stream that begins there carries on: the rest is not scanned", path, before, position, size)


def audio_streams_before(path: str | Path, container: av.container.InputContainer, ended: av.audio.stream.AudioStream,
                         position: int, opened: contextlib.ExitStack) -> set[int]:
    """The PIDs of the audio streams other than `ended` (of the recording `container` reads) with a packet
    in the STREAM_OVERLAP_BYTES before byte `position`."""
    first = max(0, position - STREAM_OVERLAP_BYTES) // TS_PACKET_BYTES * TS_PACKET_BYTES
    container, _ = read_from(path, first, container.format.name, ended.id, opened, pipe_of(container))
    others = [s for s in container.streams.audio if s.id != ended.id]
    if not others:
        return set()
    skip_other_streams(container, *others)
    found = set()
    for packet in container.demux(others):
        if packet.pos is None or packet.pos < 0:  # the empty packets that end a demuxing
            continue
        if first + packet.pos >= position:
            break
        found.add(packet.stream.id)
    return found


@dataclass(frozen=True)
class DamagedData:
    """The demuxer could not read on after byte `position` (of the last audio packet read, or where the
    reading began): `problem`."""

    position: int
    problem: str


def after_damage(path: str | Path, container: av.container.InputContainer, damage: DamagedData,
                 piece: tuple[int, int, int] | None = None) -> int | None:
    """Where to read on after `damage`: the first packet after the damaged bytes that follow its last good
    packet, with a warning naming them; None (with a warning that reading stopped) where there is none, or
    the file is not an MPEG-TS file that can be read again. A pipe is read on from where it is (see
    PipeView), and its times say what was lost. Decoding a `piece`, the warning
    is the piece's to give only where the damage begins in it (its neighbours meet the same damage)."""
    view = pipe_view(container)
    if view is not None:
        log.warning("%s: damaged data after byte %d: reading on from byte %d, where the pipe is", path,
                    damage.position, view.position)
        return view.position
    damaged = None
    if container.format.name == "mpegts":
        damaged = damaged_bytes(path, damage.position)
    first = damage.position if damaged is None else damaged[0]
    level = logging.WARNING if piece is None or piece[0] <= first < piece[1] else logging.DEBUG
    if damaged is None:
        log.log(level, "%s: reading stopped early: %s", path, damage.problem)
        return None
    log.log(level, "%s: bytes %d-%d are damaged: skipped, reading on after them", path, *damaged)
    return damaged[1]


def damaged_bytes(path: str | Path, packet_start: int, block_bytes: int = 1 << 20) -> tuple[int, int] | None:
    """(first, end) of the first damaged bytes after the MPEG-TS packet at byte `packet_start`: where
    packets stop following one another, and where SYNC_PACKETS of them do again; None where none follow.
    Packets of 192 or 204 bytes as well (see `service_tables.PACKET_SIZES`), their size read in the
    packets before (which the demuxer read)."""
    with open_recording(path) as file:
        back = max(0, packet_start - max(PACKET_SIZES) * SYNC_PACKETS)
        file.seek(back)
        found = packet_layout(file.read(packet_start - back + max(PACKET_SIZES) * (SYNC_PACKETS + 1)))
        layout = replace(found, first=back + found.first)
        run = layout.size * SYNC_PACKETS
        position, first = layout.next_packet(packet_start), None
        while True:
            file.seek(position)
            data = np.frombuffer(file.read(block_bytes + run), np.uint8)
            if first is None:  # walking packet by packet
                synced = data[::layout.size] == SYNC_BYTE
                if synced.all():
                    if len(data) < block_bytes + run:
                        return None  # the file ends without damage the demuxer could not pass
                    position += block_bytes // layout.size * layout.size
                    continue
                position = first = position + int(np.argmin(synced)) * layout.size
                continue
            count = len(data) - run + 1
            if count <= 0:
                return None
            begins = np.flatnonzero(packets_begin(data, count, layout.size))
            if len(begins):
                return first - layout.lead, position + int(begins[0]) - layout.lead
            position += count


def iterate_frames(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                   path: str | Path, offset: int = 0,
                   piece: tuple[int, int, int] | None = None,
                   ) -> Iterator[av.AudioFrame | FailedPacket | DamagedData | StreamEnd | StreamPause]:
    """Decoded frames of `stream`, a FailedPacket for each packet that failed to decode (its position
    in the file: the container reads the file from byte `offset` on), a StreamPause where the stream's
    packets leave many bytes between them, and last, where the demuxer stopped on damaged data, a
    DamagedData, or where it read to the end, a StreamEnd.

    With `piece` (start, end, warm-up frames), only the frames of packets that begin in bytes [start,
    end) (a packet split from another by FFmpeg's parser, of unknown position, is where that one is);
    those before are decoded and dropped, and with fewer than the warm-up's frames among them,
    ShortWarmup is raised at the first packet of the piece."""
    import av

    decoder = stream_decoder(stream)
    start, end, warmup_frames = piece or (-1, math.inf, 0)
    view = pipe_view(container)
    streams_change = container.format.name == "mpegts"  # and another may carry on where one stops
    position = -1  # in the file, of the last packet whose position is known
    pause = PauseLength()
    seconds_per_tick = float(stream.time_base)
    warmed_up = 0
    for _ in range(MAX_DEMUX_RESTARTS):
        try:
            for packet in container.demux(stream):
                known = packet.pos is not None and packet.pos >= 0
                if known:
                    if position >= 0 and offset + packet.pos - position > pause.bytes:
                        yield StreamPause(position, offset + packet.pos)
                    position = offset + packet.pos
                    pause.count(position, None if packet.pts is None else packet.pts * seconds_per_tick)
                    if view is not None:
                        view.heard(position, STREAM_OVERLAP_BYTES + TS_PACKET_BYTES if streams_change else 0,
                                   pause.bytes if streams_change else None)
                before = position < start
                if not before:
                    if position >= end:
                        return
                    if warmed_up < warmup_frames:
                        raise ShortWarmup
                    warmup_frames = 0
                try:
                    frames = decoder.decode(packet)
                except av.error.FFmpegError:
                    if not before:
                        yield FailedPacket(position if known else -1)
                    continue
                if before:
                    warmed_up += len(frames)
                else:
                    yield from frames
            yield StreamEnd(position)
            return
        except IndexError:
            # PyAV meets a packet of a stream that appeared mid-file (damage, or a programme change
            # in a TS) and fails on it; demuxing again goes on from the next packet.
            continue
        except av.error.FFmpegError as error:
            # A demuxer error mid-file (damaged or truncated recording): what was decoded is kept, and
            # `follow_codec_changes` reads on after the damage where it can.
            yield DamagedData(max(position, offset), demux_failure(error))
            return
    log.warning("%s: reading stopped early: too many packets of unknown streams", path)


def stream_decoder(stream: av.audio.stream.AudioStream) -> av.CodecContext:
    """The decoder for `stream`: FFmpeg's own choice, or a faster one for the same codec."""
    import av

    faster = FASTER_DECODERS.get(stream.codec_context.name)
    if faster not in av.codecs_available:
        return stream.codec_context
    decoder = av.CodecContext.create(faster, "r")
    decoder.sample_rate, decoder.layout = stream.codec_context.sample_rate, stream.codec_context.layout
    return decoder


def demux_failure(error: av.error.FFmpegError) -> str:
    """What a demuxer error mid-file means, in words for the user (the file is named by the caller)."""
    if error.errno == errno.EAGAIN:
        # FFmpeg's MPEG-TS demuxer answers EAGAIN ("Resource temporarily unavailable") when the bytes
        # that follow hold no packet it can resynchronise on: damaged data, not a busy device.
        return "the data that follows is damaged (no packets could be read from it)"
    return f"damaged data ({error.strerror})"


def load_audio(path: str | Path, sample_rate: int, track: TrackChoice = TrackChoice()) -> np.ndarray:
    """The whole audio track as one mono float32 array (for short clips; recordings should stream)."""
    chunks = [chunk.samples for chunk in decode_audio(path, sample_rate, track)]
    return np.concatenate(chunks)


BY_TIME_TABLES = "by the broadcast's time tables"  # what says when a recording was on air, where they do


def video_frame_rate(path: str | Path) -> float | None:
    """The frame rate of the recording's first video stream (None: no video, it cannot be read, or
    the recording is a pipe, which the scan reads once)."""
    if readable_once(path):
        return None
    try:
        with open_container(path) as container:
            for stream in container.streams.video:
                rate = stream.average_rate or stream.guessed_rate
                if rate:
                    return float(rate)
    except MediaError:
        pass
    return None


@dataclass(frozen=True)
class RecordingFacts:
    """What a recording says of itself before its audio is decoded: its duration in seconds, as its header
    states it, and the time (UTC) its 0:00 was broadcast, as its time tables say it (see
    `service_tables.broadcast_clock`); each None where unknown."""

    duration: float | None = None
    broadcast_time: datetime.datetime | None = None

    def to_json(self) -> dict:
        return {"duration": self.duration,
                "broadcast_time": None if self.broadcast_time is None else self.broadcast_time.isoformat()}

    @classmethod
    def from_json(cls, facts: dict) -> RecordingFacts:
        told = facts["broadcast_time"]
        return cls(facts["duration"], None if told is None else datetime.datetime.fromisoformat(told))


def recording_facts(path: str | Path, track: TrackChoice = TrackChoice()) -> RecordingFacts:
    """The `RecordingFacts` of the recording at `path`, its broadcast time by the stream `track` picks (where
    its time tables do not say it, when an Enigma2 receiver began it: see `sidecars`); none of a pipe (probing
    it would eat the start of the stream the scan reads)."""
    if readable_once(path):
        return RecordingFacts()
    with open_container(path) as container:
        duration = container_duration(container)
        try:
            stream = select_audio_stream(container, path, track)
        except MediaError:  # said as the recording is decoded
            return RecordingFacts(duration)
        return RecordingFacts(duration, broadcast_time_and_source(container, path, stream)[0])


def broadcast_time_and_source(container: av.container.InputContainer, path: str | Path,
                              stream: av.audio.stream.AudioStream) -> tuple[datetime.datetime | None, str | None]:
    """When the 0:00 of the recording `container` reads was broadcast (UTC) and what says it, in words:
    `BY_TIME_TABLES` (see `container_broadcast_time`), or where they do not, its recorder (when it began the
    recording, see `sidecars.recorder_start`); (None, None) where neither does."""
    if (aired := container_broadcast_time(container, path, stream)) is not None:
        return aired, BY_TIME_TABLES
    return recorder_start(path) or (None, None)


def container_broadcast_time(container: av.container.InputContainer, path: str | Path,
                             stream: av.audio.stream.AudioStream) -> datetime.datetime | None:
    """The time (UTC) the 0:00 of the recording `container` reads was broadcast, where its tables say it (see
    `service_tables.broadcast_clock`), by the clock of the programme of `stream`."""
    if container.format.name != "mpegts":
        return None
    if pipe := pipe_of(container):
        return broadcast_clock(pipe.kept(), stream.id, container_origin(container))
    duration = container_duration(container)
    return file_broadcast_clock(path, stream.id, container_origin(container),
                                recording_size(path) / duration if duration else None)
