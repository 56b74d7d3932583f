"""Short MP3 excerpts of a recording around its segments, for a report to play.

Browsers cannot play an MPEG-TS capture, and a whole capture would make a report of gigabytes: a
report carries the few seconds around each marker instead. They are cut from the same decode a
scan reads (`audio.decode_audio`, beside it in a helper process), so an excerpt's times are the
scan's times, across gaps and PTS wraps alike. MP3 plays in every browser (Opus in Ogg not in all
of Safari's).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .config import TrackChoice
from .decoder_process import decoded_beside

SNIPPET_RATE = 24_000  # Hz: speech keeps its sibilants, and MP3 at this rate is MPEG-2 layer III (every decoder)
SNIPPET_BIT_RATE = 32_000  # mono, about 4 kB per second
PADDING_SECONDS = 2.0  # heard before and after a segment: where it starts and ends is what a reviewer checks
MAX_SEGMENT_SECONDS = 20.0  # of a longer segment, its start is cut: enough to recognise a voice


@dataclass(frozen=True)
class Snippet:
    """`mp3` bytes of the recording from `start` to `end` (seconds, as the scan timed them)."""

    start: float
    end: float
    mp3: bytes


def snippet_spans(segments: Iterable[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The spans to cut for these segments (of every model): each segment's start, up to
    `MAX_SEGMENT_SECONDS` of it, with `PADDING_SECONDS` either side; overlapping spans merged."""
    spans: list[list[float]] = []
    for start, end in sorted(segments):
        heard_end = min(end, start + MAX_SEGMENT_SECONDS)
        span = [max(0.0, start - PADDING_SECONDS), min(duration, heard_end + PADDING_SECONDS)]
        if spans and span[0] <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], span[1])
        else:
            spans.append(span)
    return [(start, end) for start, end in spans]


def cut_snippets(path: str | Path, spans: list[tuple[float, float]], track: TrackChoice = TrackChoice(),
                 ) -> list[Snippet]:
    """MP3 excerpts of the stream `track` picks of `path` over `spans` (sorted, not overlapping), in one
    streaming pass: only the excerpts being cut are held, so memory does not grow with the recording's
    length."""
    if not spans:
        return []
    encoders: dict[int, Mp3Encoder] = {}
    snippets: list[Snippet] = []  # finished in order: every span before len(snippets) is done
    with decoded_beside(path, SNIPPET_RATE, track) as (_, chunks):
        for chunk in chunks:
            chunk_start = chunk.start
            chunk_end = chunk_start + len(chunk.samples) / SNIPPET_RATE
            for index in range(len(snippets), len(spans)):
                start, end = spans[index]
                if start >= chunk_end:
                    break
                begin = max(0, round((start - chunk_start) * SNIPPET_RATE))
                stop = min(len(chunk.samples), round((end - chunk_start) * SNIPPET_RATE))
                if stop > begin:
                    encoders.setdefault(index, Mp3Encoder()).add(chunk.samples[begin:stop])
            while len(snippets) < len(spans) and spans[len(snippets)][1] <= chunk_end:
                snippets.append(finish(spans[len(snippets)], encoders.pop(len(snippets), None)))
    while len(snippets) < len(spans):  # the recording ended inside them
        snippets.append(finish(spans[len(snippets)], encoders.pop(len(snippets), None)))
    return snippets


def finish(span: tuple[float, float], encoder: Mp3Encoder | None) -> Snippet:
    return Snippet(span[0], span[1], encoder.close() if encoder else b"")


class Mp3Encoder:
    """Mono float32 samples at `SNIPPET_RATE` in, an MP3 file's bytes out."""

    def __init__(self):
        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, "w", format="mp3")
        self.stream = self.container.add_stream("libmp3lame", rate=SNIPPET_RATE, layout="mono")
        self.stream.bit_rate = SNIPPET_BIT_RATE

    def add(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32)[None, :], format="fltp",
                                           layout="mono")
        frame.sample_rate = SNIPPET_RATE
        self.mux(frame)

    def mux(self, frame: av.AudioFrame | None) -> None:
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> bytes:
        self.mux(None)
        self.container.close()
        return self.buffer.getvalue()
