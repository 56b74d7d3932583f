"""Whether a scan's segments begin and end on speech (`ScanOptions.speech_edges`): Silero VAD asked
about the edges of the segments only (`EdgeSpeech`), so that music or a jingle that scores like the
target makes no segment."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

from .augment import fft_length
from .features import FrontEnd, WindowBatch
from .segments import Decision, Stretches, decided_runs, make_segment
from .speech_activity import (
    LEAD_IN_FRAMES,
    VAD_FRAME_SECONDS,
    VAD_SAMPLE_RATE,
    clips_speech_frames,
    speech_share,
)

# A window holds speech when this much of it is: Silero's own shortest speech (`min_speech_duration_ms`
# of its `get_speech_timestamps`). Music alone has it take a few frames here and there for speech (none
# of the development sets' music, up to 0.48 s of a window of synthetic music beds: BENCHMARKS.md,
# 2026-12-05, nineteenth session).
SHORTEST_SPEECH_SECONDS = 0.25


def resampled(samples: np.ndarray, sample_rate: int, new_rate: int = VAD_SAMPLE_RATE) -> np.ndarray:
    """`samples` (mono) at `new_rate` (by default the detector's), band-limited through their spectrum
    (a scanning process that has the decoder beside it does not load PyAV, FFmpeg's resampler).

    The transform runs over the samples and a few zeros after them, as many as make both lengths
    products of small primes: of a length with a large prime factor, it took 10 times as long (a scan
    of a 20-minute recording spent 1.2 s on it, measured)."""
    count = round(len(samples) * new_rate / sample_rate)
    if count == 0:
        return np.zeros(0, np.float32)
    ratio = math.gcd(sample_rate, new_rate)
    unit_in, unit_out = sample_rate // ratio, new_rate // ratio
    units = fft_length(-(-len(samples) // unit_in))
    spectrum = np.fft.rfft(samples, units * unit_in)[:units * unit_out // 2 + 1]
    return (np.fft.irfft(spectrum, units * unit_out)[:count] * (unit_out / unit_in)).astype(np.float32)


# Audio held for the windows that may yet be asked about: of the stretches ended (their runs and the
# windows `decide` looks at beside them), and of the stretch being seen. Past this, the stretches ended
# are decided; and the oldest windows of a stretch this long that could end up in a segment are asked
# about at once and their audio let go, so that memory stays bounded where scores never fall. The
# stretches ended are held as 16-bit integers (plenty for a speech detector; 240 s: 10.6 MB at 22,050
# Hz), the one being seen as its batches came (float32), and every window is heard as 16-bit integers.
HELD_SECONDS = 240.0
# Audio before a window asked about that Silero hears first, so that its state is warm where the window starts.
LEAD_IN_SECONDS = LEAD_IN_FRAMES * VAD_FRAME_SECONDS
# Windows asked about in one batch of the model: per frame, a batch of 64 costs a quarter of one of 8
# and two thirds of one of 32 (measured on 2 cores).
CLIP_ROWS = 64


@dataclass(frozen=True)
class WindowsAudio:
    """The audio of `count` consecutive windows from window `first`, led in by `lead` samples before it."""

    first: int
    count: int
    audio: np.ndarray
    lead: int

    def holds(self, window: int) -> bool:
        return self.first <= window < self.first + self.count


class EdgeSpeech:
    """Whether the windows of a scan hold speech (`SHORTEST_SPEECH_SECONDS` of it), asked only where it
    decides something: at the first and last windows of the segments of `decisions` (see
    `ScanOptions.speech_edges`). Windows not asked count as holding speech.

    The recording parts into stretches whose segments are decided alone (see `segments.Stretches`).
    The segments of the stretches seen are decided with what is known, the edge windows not
    yet asked are asked, and again, until each segment begins and ends on a window that holds speech:
    the segments that asking every window would give (but for segments too short to keep, whose edges
    are not asked), for a few windows asked per segment. Silero costs tens of milliseconds a call,
    however little it is asked (over every window it would slow a scan by half): the stretches ended
    are decided together, at the end or when `HELD_SECONDS` of audio is held, in one call a round.
    """

    def __init__(self, front_end: FrontEnd, decisions: list[Decision], min_seconds: float | None = None):
        # `min_seconds`: the shortest segment kept (see `Decision.keeps`); 0 where short ones may be joined
        self.front_end, self.decisions, self.min_seconds = front_end, decisions, min_seconds
        self.parting = Stretches(decisions)
        self.reach = self.parting.reach
        # every window's raw scores, and whether its average is above a stay level (known up to len - half)
        self.scores, self.above = self.parting.scores, self.parting.above
        self.step = front_end.step_frames * front_end.hop_length  # samples from one window to the next
        self.centres, self.activity = array("d"), array("f")
        self.asked, self.speech = array("b"), array("b")
        self.stretch_start = 0  # the first window of the stretch being seen
        self.stretches: list[tuple[int, int]] = []  # (first, stop) windows of the stretches ended, not yet decided
        self.ended: list[WindowsAudio] = []  # their audio
        self.batches: list[WindowsAudio] = []  # the audio of the stretch being seen

    def add(self, batch: WindowBatch, scores: list[np.ndarray]) -> None:
        """The next batch of windows, and their raw scores by each decision's model."""
        first, count = len(self.centres), len(batch.centres)
        self.centres.extend(batch.centres.tolist())
        self.activity.extend(batch.activity.tolist())
        self.asked.extend([0] * count)
        self.speech.extend([1] * count)
        self.batches.append(WindowsAudio(first, count, batch.samples, 0))
        for stop in self.parting.add(scores):
            self.end_stretch(stop)
        self.let_go()

    def finish(self) -> np.ndarray:
        """(windows,) bool: whether each window holds speech."""
        self.end_stretch(len(self.centres), unsure=len(self.above) < len(self.centres))
        self.decide_stretches()
        return np.array(self.speech, bool)

    def end_stretch(self, stop: int, unsure: bool = False) -> None:
        """The stretch being seen ends before window `stop`: keep the audio of its windows above a stay
        level (or, `unsure`, not yet known to be below) and of the `reach` windows either side."""
        start, self.stretch_start = self.stretch_start, stop
        above = np.flatnonzero(np.array(self.above[start:stop], bool)) + start
        if unsure:
            above = np.append(above, [len(self.above), stop - 1])
        if len(above):
            first, last = max(0, above[0] - self.reach), min(len(self.centres), above[-1] + 1 + self.reach)
            self.stretches.append((first, last))
            self.ended += [piece for batch in self.batches if (piece := self.cut(batch, first, last))]
        self.batches = [batch for batch in self.batches if batch.first + batch.count > stop - self.reach]

    def cut(self, held: WindowsAudio, first: int, stop: int) -> WindowsAudio | None:
        """The audio of windows `first` to `stop` that `held` holds, led in by up to `LEAD_IN_SECONDS`."""
        first, stop = max(first, held.first), min(stop, held.first + held.count)
        if stop <= first:
            return None
        begin = (first - held.first) * self.step + held.lead
        lead = min(begin, round(LEAD_IN_SECONDS * self.front_end.sample_rate))
        end = begin + (stop - 1 - first) * self.step + self.front_end.min_samples
        return WindowsAudio(first, stop - first, as_int16(held.audio[begin - lead:end]), lead)

    def decide_stretches(self) -> None:
        """Decide the segments of the stretches ended until every edge has been asked."""
        step_seconds = self.front_end.step_seconds
        known = [(start, np.array(self.centres[start:stop]), np.array(self.activity[start:stop]),
                  [np.array(stored[start:stop], np.float32) for stored in self.scores])
                 for start, stop in self.stretches]
        while True:
            wanted: set[int] = set()
            for start, centres, activity, scores in known:
                edge_activity = np.where(np.array(self.speech[start:start + len(centres)], bool), activity, -np.inf)
                for decision, decision_scores in zip(self.decisions, scores, strict=True):
                    smoothed, runs = decided_runs(centres, decision_scores, edge_activity, decision, step_seconds)
                    for run in runs:
                        if not decision.keeps(make_segment(centres, smoothed, run, step_seconds), self.min_seconds):
                            continue  # dropped as too short, and asking only shortens a segment
                        first, last = start + run[0], start + run[-1]
                        if self.asked[first] and self.asked[last]:
                            continue
                        # The edges first, as most hold speech; once one did not, the whole segment (music
                        # that scores like the target lasts seconds): one call a round, and few rounds.
                        beside = range(max(0, first - self.reach), min(len(self.speech), last + self.reach + 1))
                        trimmed = any(self.asked[window] and not self.speech[window] for window in beside)
                        windows = range(first, last + 1) if trimmed else (first, last)
                        wanted.update(window for window in windows if not self.asked[window])
            if not wanted:
                break
            self.ask(sorted(wanted))
        self.stretches, self.ended = [], []

    def let_go(self) -> None:
        """While more than `HELD_SECONDS` of audio is held, decide the stretches ended; then ask about
        every window of the oldest batch of the stretch being seen that could end up in a segment, and
        let it go."""
        if self.held_seconds() <= HELD_SECONDS:
            return
        self.decide_stretches()
        while self.held_seconds() > HELD_SECONDS and len(self.batches) > 1:
            oldest = self.batches[0]
            first, stop = oldest.first, oldest.first + oldest.count
            if len(self.above) < stop + self.reach:
                return
            reach = self.reach
            self.ask([window for window in range(first, stop)
                      if not self.asked[window] and any(self.above[max(0, window - reach):window + reach + 1])])
            self.batches.pop(0)

    def held_seconds(self) -> float:
        return sum(len(held.audio) for held in self.ended + self.batches) / self.front_end.sample_rate

    def clip(self, held: WindowsAudio, window: int, lead: int) -> np.ndarray:
        """The audio of `window` after the `lead` samples before it (silence where `held` holds less), as
        16-bit integers."""
        window_samples = self.front_end.min_samples
        end = held.lead + (window - held.first) * self.step + window_samples
        audio = held.audio[max(0, end - lead - window_samples):end]
        clip = np.zeros(lead + window_samples, np.int16)
        clip[len(clip) - len(audio):] = as_int16(audio)
        return clip

    def ask(self, windows: list[int]) -> None:
        """Ask Silero whether `windows` hold speech, each heard on its own after the `LEAD_IN_SECONDS`
        before it (silence where the batch it came in holds less): the answer is the window's alone,
        whichever windows are asked with it. `CLIP_ROWS` windows at a time, the rows of one batch."""
        rate = self.front_end.sample_rate
        lead = round(LEAD_IN_SECONDS * rate)
        everything_held = self.ended + self.batches
        held = {}
        for window in windows:
            self.asked[window] = 1
            # A window whose audio was let go of was asked about before it was: it is not asked again.
            if (audio := next((audio for audio in everything_held if audio.holds(window)), None)) is not None:
                held[window] = audio
        windows = list(held)
        for first in range(0, len(windows), CLIP_ROWS):
            asked = windows[first:first + CLIP_ROWS]
            # One clip at a time: the transforms of them all at once held 50 MB more (measured).
            frames = clips_speech_frames(np.stack([
                resampled(self.clip(held[window], window, lead).astype(np.float32) / INT16_SCALE, rate)
                for window in asked]))
            for window, speech in zip(asked, frames, strict=True):
                share = speech_share(speech, np.array([lead / rate]), self.front_end.window_seconds)[0]
                self.speech[window] = int(share * self.front_end.window_seconds >= SHORTEST_SPEECH_SECONDS)


INT16_SCALE = 32767


def as_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as 16-bit integers (as they are, if they are already)."""
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples, -1.0, 1.0) * INT16_SCALE).astype(np.int16)
