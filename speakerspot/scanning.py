"""Scan one recording: decode → features → embed → score → segments (their edges, with `speech_edges`,
asked of a speech detector)."""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
from array import array
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .audio import CHUNK_SECONDS, AudioChunk, RecordingFacts, decode_audio, recording_facts
from .config import ScanOptions
from .decoder_process import decoded_beside
from .errors import MediaError
from .features import FrontEnd, WindowBatch, stream_windows
from .media_files import readable_once
from .model import SpeakerModel, refuse_base_encoders
from .segments import BroadcastTimeCallback, ScanResult, Segment, SegmentCallback, SettledSegments, decide
from .threads import made_on_a_thread

# tqdm drops the total when the count passes it (a damaged file holds more audio than its header
# says) and has none for a stream of unknown length: the formats must not need one.
PROGRESS_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total_fmt} s of audio [{elapsed}<{remaining}]"
PROGRESS_FORMAT_UNKNOWN_LENGTH = "{desc}: {n:.0f} s of audio [{elapsed}]"

# A stream followed as it plays (a pipe scanned with `on_segment`) is handed on this much at a time, not
# CHUNK_SECONDS: a segment is told once the audio after it has come, and a chunk's end waits for all of it.
LIVE_CHUNK_SECONDS = 1.0

log = logging.getLogger(__name__)


def scan(model: SpeakerModel, source: str | Path | np.ndarray, options: ScanOptions = ScanOptions(), *,
         progress: bool = False, decoder_process: bool = True, on_segment: SegmentCallback | None = None,
         on_broadcast_time: BroadcastTimeCallback | None = None, keep_windows: bool = True,
         **changes: float | int | str | bool | None) -> ScanResult:
    """Find where the model's target speaks in `source`.

    `source` is a path to any recording FFmpeg reads, or mono samples already at the model's
    sample rate: float in [-1, 1], or integer PCM (int16 as a WAV file holds it), scaled alike.
    `options` (or its fields given by name: `threshold=0.2`, `audio_track=1`, `language="deu"`,
    `programme="ZDF"`, `speech_edges=True`, `merge_gap=3.0`, `min_duration=5.0`) say which threshold,
    which audio stream, where segments may begin and end, which are joined and which are too short to keep (see
    `ScanOptions`; the threshold applies to the window scores averaged over the model's smoothing
    width); `progress` shows a bar on stderr. `decoder_process` decodes a
    recording longer than a minute in a helper process while this one computes (results are the
    same; turn it off where every core is busy already, as in a batch's worker processes). The
    helper decodes on a core of its own: leave it one (`torch.set_num_threads(cores - 1)`, as the
    command does); computing on every core as well slows both (measured). speakerspot does not
    change torch's threads itself: they are the process's, and another thread may be computing
    too. The features of the next windows are computed on a thread of their own while the encoder
    scores these (see `scan_pass`).

    `on_segment(model_name, segment)` is called with each segment as soon as the audio after it can no
    longer change it, while the scan goes on: a live stream (a pipe, `/dev/stdin`) is followed as it
    plays, 7-21 s behind a turn's end (see `segments.SettledSegments`). In the end it has been
    called with every segment of the result, in order. `on_broadcast_time(time)` is called with when the
    recording's 0:00 was broadcast (UTC), where its DVB time tables or its recorder say it
    (`ScanResult.broadcast_time`), as soon as it is known: a file's before its first segment, a pipe's once
    the stream brought a time table (DVB sends one every 30 s at least); a segment's time on air is then
    this plus its start.
    `keep_windows` False leaves every window's time and score out of the result (its window arrays are
    empty; the segments are the same): with it, memory stays bounded however long a stream is followed.
    Neither goes with `speech_edges`, which decides a segment's edges later.
    """
    return scan_many([model], source, options, progress=progress, decoder_process=decoder_process,
                     on_segment=on_segment, on_broadcast_time=on_broadcast_time, keep_windows=keep_windows,
                     **changes)[0]


def scan_many(models: list[SpeakerModel], source: str | Path | np.ndarray, options: ScanOptions = ScanOptions(), *,
              progress: bool = False, decoder_process: bool = True, on_segment: SegmentCallback | None = None,
              on_broadcast_time: BroadcastTimeCallback | None = None, keep_windows: bool = True,
              **changes: float | int | str | bool | None) -> list[ScanResult]:
    """`scan` for several models at once: the recording is decoded and turned into features once
    per front end the models use (one pass when they were trained alike), and every model scores
    the same windows. Results come in the order of `models`; `on_segment` is called with each model's
    segments as they are decided (each model's in order), `on_broadcast_time` as in `scan`."""
    options = replace(options, **changes)
    if (on_segment is not None or not keep_windows) and options.speech_edges:
        raise ValueError("segments are not decided as the windows come with speech_edges (needed by on_segment "
                         "and keep_windows=False): their edges are asked of the speech detector later")
    refuse_base_encoders(models)
    groups: dict[FrontEnd, list[int]] = {}
    for index, model in enumerate(models):
        groups.setdefault(model.front_end, []).append(index)
    if len(groups) > 1 and not isinstance(source, np.ndarray) and readable_once(source):
        raise MediaError(source, f"these models were trained on {len(groups)} front ends (sample rate, frames, "
                                 "windows), each a pass over the audio, and a pipe is read once: scan it with "
                                 "the models of one front end")
    results: dict[int, ScanResult] = {}
    for front_end, indices in groups.items():
        group = [models[i] for i in indices]
        results.update(zip(indices, scan_pass(group, front_end, source, options, progress, decoder_process,
                                              on_segment, on_broadcast_time, keep_windows), strict=True))
    return [results[i] for i in range(len(models))]


def scan_pass(models: list[SpeakerModel], front_end: FrontEnd, source: str | Path | np.ndarray, options: ScanOptions,
              progress: bool, decoder_process: bool, on_segment: SegmentCallback | None = None,
              on_broadcast_time: BroadcastTimeCallback | None = None, keep_windows: bool = True) -> list[ScanResult]:
    """One pass over `source`: decode, features, then every model's scores and decisions.

    Decoding (or reading the helper's messages) and features run on a thread of their own, the
    encoder on this one: torch computes outside the GIL, so the two overlap. Measured against one
    thread doing both, paired runs on the 2-core machine of BENCHMARKS.md (2026-12-04, eighth
    session): 0.97x the time for a 20-minute capture, 0.95x for a 3-hour one, 0.92x for a folder
    of four scanned by two workers; the same results."""
    tracker = ChunkTracker(front_end.sample_rate)
    # Each batch's few values are kept in growing arrays, not as arrays of their own: a scan's
    # thousands of small arrays, allocated among the large short-lived buffers of the features and
    # the encoder, kept the allocator from reusing or returning their memory, and the process grew
    # with the recording (3-hour capture: by 17 MB; with the features on their own thread, 41 MB;
    # like this, by 5 MB or less: BENCHMARKS.md, 2026-12-04, eighth session).
    centres, activity = array("d"), array("f")
    scores = [array("f") for _ in models]
    decisions = [model.decision.with_threshold(options.threshold) for model in models]
    speech = None
    if options.speech_edges:
        from .edge_speech import EdgeSpeech  # here: a scan without it needs neither it nor Silero

        # a segment too short to keep has edges not worth asking about, unless it may be joined to another
        speech = EdgeSpeech(front_end, decisions, 0.0 if options.merge_gap else options.min_duration)
    settled = SettledSegments(decisions, front_end.step_seconds, options.merge_gap,
                              options.min_duration) if on_segment or not keep_windows else None
    told: list[list[Segment]] = [[] for _ in models]  # the segments settled, where windows are not kept
    count = 0  # windows scanned
    aired: datetime.datetime | None = None  # told `on_broadcast_time`: a file's at once, a pipe's when it comes

    def tell_broadcast_time() -> None:
        nonlocal aired
        if on_broadcast_time and tracker.broadcast_time != aired:
            aired = tracker.broadcast_time
            on_broadcast_time(aired)

    live = on_segment is not None and not isinstance(source, np.ndarray) and readable_once(source)
    with (source_chunks(source, front_end.sample_rate, options, decoder_process,
                        LIVE_CHUNK_SECONDS if live else CHUNK_SECONDS) as (name, facts, chunks),
          tqdm(total=math.ceil(facts.duration) if facts.duration else None, unit="s", desc=Path(name).name,
               disable=not progress, leave=False,
               bar_format=PROGRESS_FORMAT if facts.duration else PROGRESS_FORMAT_UNKNOWN_LENGTH) as bar):
        tracker.broadcast_time = facts.broadcast_time
        windows = made_on_a_thread(windows_of(chunks, tracker, bar, front_end, str(models[0].device),
                                              with_samples=speech is not None))
        with contextlib.closing(windows):  # now, not when the garbage collector gets to it
            for batch in windows:
                tell_broadcast_time()
                count += len(batch.centres)
                batch_scores = [model.score(batch.mels) for model in models]
                if keep_windows:
                    centres.extend(batch.centres.tolist())
                    activity.extend(batch.activity.tolist())
                    for model_scores, these in zip(scores, batch_scores, strict=True):
                        model_scores.extend(these.tolist())
                if speech:
                    speech.add(batch, batch_scores)
                if settled:
                    tell(models, settled.add(batch.centres, batch.activity, batch_scores), on_segment, told)
        tell_broadcast_time()
        if settled:
            tell(models, settled.finish(), on_segment, told)
    if not count:  # else a recording too short to scan would read as one without the target
        log.warning("%s: %.1f s of audio, shorter than one window (%.2f s): nothing was scanned", name, tracker.end,
                    front_end.window_seconds)
    window_times, window_activity = np.array(centres), np.array(activity)
    if speech:  # a window without speech, like one without sound, never begins or ends a segment
        window_activity = np.where(speech.finish(), window_activity, -np.inf)
    results = []
    for model, model_scores, decision, settled_segments in zip(models, scores, decisions, told, strict=True):
        window_scores = np.array(model_scores)
        if keep_windows:
            smoothed, segments = decide(window_times, window_scores, window_activity, decision,
                                        front_end.step_seconds, options.merge_gap, options.min_duration)
        else:  # the same segments, decided as the windows came (see `segments.SettledSegments`)
            smoothed, segments = window_scores, settled_segments
        results.append(ScanResult(file=name, model=model.name, threshold=decision.threshold, duration=tracker.end,
                                  segments=segments, window_times=window_times, window_scores=window_scores,
                                  smoothed_scores=smoothed, stay_threshold=decision.stay_threshold,
                                  edge_threshold=decision.edge_threshold, window_activity=window_activity,
                                  broadcast_time=tracker.broadcast_time, track=options.track))
    return results


def tell(models: list[SpeakerModel], settled: list[tuple[int, Segment]], on_segment: SegmentCallback | None,
         told: list[list[Segment]]) -> None:
    """Hand each segment settled to `on_segment`, and keep it in `told` (by model)."""
    for index, segment in settled:
        if on_segment:
            on_segment(models[index].name, segment)
        told[index].append(segment)


@contextlib.contextmanager
def source_chunks(source: str | Path | np.ndarray, sample_rate: int, options: ScanOptions, decoder_process: bool,
                  chunk_seconds: float = CHUNK_SECONDS) -> Iterator[tuple[str, RecordingFacts, Iterator[AudioChunk]]]:
    """(name, what it says of itself: its duration, when it was broadcast, see `audio.RecordingFacts`; chunks
    at `sample_rate`) of an in-memory signal or a recording (chunks of `chunk_seconds`), decoded beside this
    process if `decoder_process` (see `decoder_process.decoded_beside`)."""
    if isinstance(source, np.ndarray):
        samples = mono_float_samples(source)
        yield "<array>", RecordingFacts(len(samples) / sample_rate), array_chunks(samples, sample_rate)
    elif decoder_process:
        with decoded_beside(source, sample_rate, options.track, options.decoders, chunk_seconds) as (facts, chunks):
            yield str(source), facts, chunks
    else:
        yield (str(source), recording_facts(source, options.track),
               decode_audio(source, sample_rate, options.track, chunk_seconds))


def windows_of(chunks: Iterator[AudioChunk], tracker: ChunkTracker, bar: tqdm, front_end: FrontEnd,
               device: str, with_samples: bool) -> Generator[WindowBatch, None, None]:
    """`features.stream_windows` of `chunks`, followed by `tracker`; `chunks` is closed when these end.

    Closing the decoder at once, whatever ends the pass (an error, Ctrl-C), stops a helper process
    before this one exits; left to the garbage collector, it could outlive the pipe it writes to."""
    with contextlib.closing(chunks):
        yield from stream_windows(tracker.follow(chunks, bar), front_end, device, with_samples)


class ChunkTracker:
    """Passes chunks through, advancing a progress bar and remembering where the audio ends, and when its 0:00
    was broadcast where a pipe's chunks tell it (see `AudioChunk`)."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.end = 0.0
        self.broadcast_time: datetime.datetime | None = None

    def follow(self, chunks: Iterator[AudioChunk], bar: tqdm) -> Iterator[AudioChunk]:
        for chunk in chunks:
            self.broadcast_time = chunk.broadcast_time or self.broadcast_time
            end = chunk.start + len(chunk.samples) / self.sample_rate
            if bar.total is not None and end > bar.total:  # more audio than the header said
                bar.total = math.ceil(end)
            bar.update(end - self.end)
            self.end = end
            yield chunk


def mono_float_samples(samples: np.ndarray) -> np.ndarray:
    """`samples` as float32, integer PCM scaled to [-1, 1) as a decoder gives it (int16 by 1/32768),
    refusing several channels, which would otherwise be scanned as one signal or fail obscurely."""
    if samples.ndim != 1:
        raise ValueError(f"samples of shape {samples.shape}: scan takes one channel (a 1-D array); "
                         "mix its channels to one first")
    if np.issubdtype(samples.dtype, np.integer):
        limits = np.iinfo(samples.dtype)
        half_range = (int(limits.max) - int(limits.min) + 1) / 2
        return ((samples - (int(limits.min) + half_range)) / half_range).astype(np.float32)
    return samples.astype(np.float32, copy=False)


def array_chunks(samples: np.ndarray, sample_rate: int) -> Iterator[AudioChunk]:
    """Chunks of an in-memory mono float32 signal, timed from 0, as the decoder would hand them on."""
    size = int(CHUNK_SECONDS * sample_rate)
    for offset in range(0, len(samples), size):
        yield AudioChunk(offset / sample_rate, samples[offset:offset + size])

