"""From window scores to time spans."""

from __future__ import annotations

import datetime
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .config import TrackChoice


@dataclass(frozen=True)
class Segment:
    """A span where the target speaks: `start`, `end` in seconds, `score` the mean window score."""

    start: float
    end: float
    score: float


@dataclass(frozen=True)
class Decision:
    """How window scores become segments: tunable without retraining, stored in the model file.

    `threshold` applies to window scores averaged over `smoothing_windows` neighbours: a segment
    needs a window above it, and extends over the neighbouring windows above `threshold -
    hysteresis` (a turn that dips, under music or a phone line, stays one turn); its first and last
    windows must be above `threshold - edge_hysteresis` (None: the same level as the rest), since
    the averaging carries a turn's score into the windows beside it; segments shorter than
    `min_segment_seconds` are dropped. A window whose centre is `silent_centre_db` below its loudest
    part is centred on silence: at the edge of a segment it is there only because the speech beside
    it fills the window, so it is trimmed off; so is a window without sound at all (`activity` -inf,
    see `features.centre_activity`; a scan with `ScanOptions.speech_edges` marks windows without
    speech so too).

    A segment whose windows' median lies `growth_margin` or more above `threshold` (a turn, not a sound
    that only just reaches the level) grows at each end by up to half the smoothing width, over windows
    above half-way between that median and the lowest window beyond the end (see `grown_end`). None:
    segments do not grow, as in model files written before it (format version 5 and older). With
    `raw_edges`, each grown end then moves on outward, by up to as many windows again, over the raw
    (unaveraged) window scores above half-way between the segment's raw median and the median of the
    raw windows beyond it (see `grown_runs`).

    The default threshold, for a model without held-back clips to calibrate on, takes a window for
    the target's when it is nearer the target than the others (score 0). The design's 0.7 applied to
    the cosine alone; on scores less the others it found 5-8 of 15 dev turns where 0 found 13-14,
    with one false alarm more on one model of three (BENCHMARKS.md, 2026-11-30).
    """

    threshold: float = 0.0
    hysteresis: float = 0.0
    smoothing_windows: int = 7
    min_segment_seconds: float = 1.0
    edge_hysteresis: float | None = None
    silent_centre_db: float = -25.0
    # Not 0: segments that only just reach the threshold are mostly other voices, and grown they let in
    # more false alarms (BENCHMARKS.md, 2026-12-04, fourteenth session).
    growth_margin: float | None = 0.05
    raw_edges: bool = True

    def with_threshold(self, threshold: float | None) -> Decision:
        return self if threshold is None else replace(self, threshold=threshold)

    @property
    def stay_threshold(self) -> float:
        """The level a segment's windows stay above."""
        return lower_levels(self.threshold, self.hysteresis, self.edge_hysteresis)[0]

    @property
    def edge_threshold(self) -> float:
        """The level a segment's first and last windows are above."""
        return lower_levels(self.threshold, self.hysteresis, self.edge_hysteresis)[1]

    def keeps(self, segment: Segment, min_seconds: float | None = None) -> bool:
        """Whether `segment` is long enough to keep: `min_seconds` long, by default `min_segment_seconds`
        (to the millisecond, as segment times are rounded)."""
        shortest = self.min_segment_seconds if min_seconds is None else min_seconds
        return segment.end - segment.start >= shortest - 1e-6

    @property
    def reach(self) -> int:
        """How many windows beyond a run of windows whose averaged scores are above the stay level
        `decide` looks: a segment that grows weighs the `smoothing_windows` windows beyond an end moved
        by up to half of them, and an average takes in half of them either side (without growth, a
        run bridges one window)."""
        half = self.smoothing_windows // 2
        return self.smoothing_windows + half if self.growth_margin is not None else half + 1

    def to_dict(self) -> dict:
        return asdict(self)


def decide(centres: np.ndarray, scores: np.ndarray, activity: np.ndarray | None, decision: Decision,
           step_seconds: float, merge_gap: float = 0.0, min_seconds: float | None = None
           ) -> tuple[np.ndarray, list[Segment]]:
    """(smoothed scores, segments) from raw window scores; segments closer than `merge_gap` seconds
    joined (see `joined`), then those shorter than `min_seconds` (default: the decision's) dropped."""
    smoothed, runs = decided_runs(centres, scores, activity, decision, step_seconds)
    segments = joined([make_segment(centres, smoothed, run, step_seconds) for run in runs], merge_gap)
    return smoothed, [segment for segment in segments if decision.keeps(segment, min_seconds)]


def joined(segments: list[Segment], merge_gap: float) -> list[Segment]:
    """`segments` (in order) with those closer than `merge_gap` seconds made one, scored by the mean of
    their scores weighed by their lengths (the windows of the gap, below the levels, left out): a turn
    broken by a short question or applause, told as one."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and segment.start - merged[-1].end < merge_gap:
            last = merged[-1]
            lengths = (last.end - last.start, segment.end - segment.start)
            score = (last.score * lengths[0] + segment.score * lengths[1]) / max(sum(lengths), 1e-9)
            merged[-1] = Segment(start=last.start, end=segment.end, score=round(score, 4))
        else:
            merged.append(segment)
    return merged


# Called with a model's name and a segment of its target, as soon as that segment is decided.
SegmentCallback = Callable[[str, Segment], None]
# Called with when a recording's 0:00 was broadcast (UTC), as soon as its time tables tell it.
BroadcastTimeCallback = Callable[[datetime.datetime], None]


class Stretches:
    """Where the windows of a scan, as they come, part into stretches whose segments are decided alone.

    Only a window whose averaged score is above a decision's stay level can be in a segment's run, and
    `decide` looks no farther than `Decision.reach` windows beyond a run, so a run of `2 * reach + 1`
    windows below every stay level parts the recording in two: the segments before its middle window
    are those the whole recording would give, whatever comes after it. `above` says, of each window
    whose average is known (all but the last `half`), whether it is above a stay level.

    `scores` and `above` hold the windows from `offset` on (every window, unless `forget_before` let
    the first go); window numbers in and out count from the first window of the scan."""

    def __init__(self, decisions: list[Decision]):
        self.decisions = decisions
        self.reach = max(decision.reach for decision in decisions)
        self.half = max(decision.smoothing_windows // 2 for decision in decisions)
        self.scores = [array("f") for _ in decisions]  # each window's raw score by each decision's model
        self.above = array("b")
        self.offset = 0
        self.below = 0  # windows since the last one above

    def forget_before(self, window: int) -> None:
        """Let the windows before `window` go (it must leave the `half` windows before the first whose
        average is not yet known)."""
        drop = window - self.offset
        if drop > 0:
            for stored in (*self.scores, self.above):
                del stored[:drop]
            self.offset = window

    def add(self, scores: list[np.ndarray]) -> list[int]:
        """The next windows' raw scores by each decision's model; the windows before which stretches end,
        as now known (one for each window below that makes the run of windows below long enough)."""
        for stored, batch_scores in zip(self.scores, scores, strict=True):
            stored.extend(batch_scores.tolist())
        known, averaged = len(self.above), len(self.scores[0]) - self.half
        if averaged <= known:
            return []
        start = max(0, known - self.half)  # enough before, so that the averages are those of the whole
        above = np.zeros(averaged - known, bool)
        for stored, decision in zip(self.scores, self.decisions, strict=True):
            smoothed = smooth_scores(np.array(stored[start:], np.float32), decision.smoothing_windows)
            above |= smoothed[known - start:averaged - start] > decision.stay_threshold
        self.above.extend(above.astype(np.int8).tolist())
        stops = []
        for index in range(known, averaged):
            self.below = 0 if self.above[index] else self.below + 1
            if self.below >= 2 * self.reach + 1:
                stops.append(self.offset + index - self.reach)
        return stops


class SettledSegments:
    """The segments of a scan as soon as no window to come can change them (`scan(on_segment=…)`, a live
    stream followed as it plays): in the end, those `decide` gives for the whole recording, in order.

    Each stretch ended (see `Stretches`) is decided with the windows either side of it that its
    averages and `decide` look at; a segment is then held until the next one is known not to be joined
    to it (`merge_gap`), and kept if it is long enough once joined (`min_seconds`, see `decide`). The
    windows of a stretch decided are let go: memory stays bounded however long the stream."""

    def __init__(self, decisions: list[Decision], step_seconds: float, merge_gap: float = 0.0,
                 min_seconds: float | None = None):
        self.decisions, self.step_seconds = decisions, step_seconds
        self.merge_gap, self.min_seconds = merge_gap, min_seconds
        self.stretches = Stretches(decisions)
        # windows beyond a stretch that deciding it looks at: the averages' and the runs' reach, and as
        # many again, so that runs that the averages at the slice's ends make up cannot reach into it
        self.context = 2 * self.stretches.reach + self.stretches.half
        self.centres, self.activity = array("d"), array("f")  # of the windows from `stretches.offset` on
        self.windows = 0  # seen
        self.decided = 0  # the first window of the stretch being seen
        self.held: list[Segment | None] = [None] * len(decisions)  # each decision's last segment, not yet told

    def add(self, centres: np.ndarray, activity: np.ndarray, scores: list[np.ndarray]) -> list[tuple[int, Segment]]:
        """The next windows (centres, sound activity, each decision's raw scores); the segments settled by
        them, each with the index of its decision."""
        self.centres.extend(centres.tolist())
        self.activity.extend(activity.tolist())
        self.windows += len(centres)
        stops = self.stretches.add(scores)
        if not stops:
            return []
        told = self.settle(stops[-1])
        keep_from = max(0, self.decided - self.context)  # what deciding the next stretch looks at before it
        del self.centres[:keep_from - self.stretches.offset]
        del self.activity[:keep_from - self.stretches.offset]
        self.stretches.forget_before(keep_from)
        return told

    def finish(self) -> list[tuple[int, Segment]]:
        """The segments not yet told, at the end of the scan."""
        told = self.settle(self.windows)
        told += [(index, segment) for index, segment in enumerate(self.held)
                 if segment is not None and self.decisions[index].keeps(segment, self.min_seconds)]
        self.held = [None] * len(self.decisions)
        return sorted(told, key=lambda told: told[1].start)

    def settle(self, stop: int) -> list[tuple[int, Segment]]:
        """Decide the windows from the last stop to `stop` (where a stretch ends, or the last window)."""
        start, self.decided = self.decided, stop
        offset, above = self.stretches.offset, self.stretches.above
        if not any(above[start - offset:stop - offset]) and offset + len(above) >= stop:
            return self.told_before(stop)
        first, last = max(offset, start - self.context), min(self.windows, stop + self.context)
        centres = np.array(self.centres[first - offset:last - offset])
        activity = np.array(self.activity[first - offset:last - offset])
        told = []
        for index, decision in enumerate(self.decisions):
            scores = np.array(self.stretches.scores[index][first - offset:last - offset], np.float32)
            smoothed, runs = decided_runs(centres, scores, activity, decision, self.step_seconds)
            for run in runs:
                if start <= first + run[0] < stop:
                    told += self.joined_on(index, make_segment(centres, smoothed, run, self.step_seconds))
        return sorted(told + self.told_before(stop), key=lambda told: told[1].start)

    def joined_on(self, index: int, segment: Segment) -> list[tuple[int, Segment]]:
        """Hold `segment` as decision `index`'s last, joined to the one held if near enough (see `joined`);
        the segment held before, if told now."""
        held = self.held[index]
        if held is not None:
            merged = joined([held, segment], self.merge_gap)
            if len(merged) == 1:
                self.held[index] = merged[0]
                return []
        self.held[index] = segment
        return self.told(index, held)

    def told_before(self, stop: int) -> list[tuple[int, Segment]]:
        """The segments held that no segment from window `stop` on can be joined to."""
        if stop >= self.windows:
            return []
        earliest = segment_start(self.centres[stop - self.stretches.offset], self.step_seconds)
        told = []
        for index, held in enumerate(self.held):
            if held is not None and earliest - held.end >= self.merge_gap:
                self.held[index] = None
                told += self.told(index, held)
        return told

    def told(self, index: int, segment: Segment | None) -> list[tuple[int, Segment]]:
        keep = segment is not None and self.decisions[index].keeps(segment, self.min_seconds)
        return [(index, segment)] if keep else []


def decided_runs(centres: np.ndarray, scores: np.ndarray, activity: np.ndarray | None, decision: Decision,
                 step_seconds: float) -> tuple[np.ndarray, list[list[int]]]:
    """(smoothed scores, the windows of each segment) of `decide`, its segments shorter than the
    decision's shortest not yet dropped."""
    smoothed = smooth_scores(scores, decision.smoothing_windows)
    runs = segment_runs(centres, smoothed, decision.threshold, step_seconds, activity, decision.hysteresis,
                        decision.edge_hysteresis, decision.silent_centre_db, decision.growth_margin,
                        decision.smoothing_windows, scores if decision.raw_edges else None)
    return smoothed, runs


def smooth_scores(scores: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` neighbouring windows (odd; ends padded with the end values).

    A turn lasts seconds, a spurious match one window: averaging over ~2 s keeps the first and
    flattens the second."""
    if width <= 1 or len(scores) == 0:
        return np.asarray(scores, dtype=np.float32)
    padded = np.pad(np.asarray(scores, dtype=np.float64), width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid").astype(np.float32)


def segments_from_scores(centres: np.ndarray, scores: np.ndarray, threshold: float, step_seconds: float,
                         activity: np.ndarray | None = None, hysteresis: float = 0.0,
                         edge_hysteresis: float | None = None,
                         silent_centre_db: float = Decision.silent_centre_db, growth_margin: float | None = None,
                         smoothing_windows: int = Decision.smoothing_windows,
                         raw_scores: np.ndarray | None = None) -> list[Segment]:
    """Merge windows scoring above `threshold` into segments (see `segment_runs`)."""
    runs = segment_runs(centres, scores, threshold, step_seconds, activity, hysteresis, edge_hysteresis,
                        silent_centre_db, growth_margin, smoothing_windows, raw_scores)
    return [make_segment(centres, scores, run, step_seconds) for run in runs]


def segment_runs(centres: np.ndarray, scores: np.ndarray, threshold: float, step_seconds: float,
                 activity: np.ndarray | None = None, hysteresis: float = 0.0, edge_hysteresis: float | None = None,
                 silent_centre_db: float = Decision.silent_centre_db, growth_margin: float | None = None,
                 smoothing_windows: int = Decision.smoothing_windows,
                 raw_scores: np.ndarray | None = None) -> list[list[int]]:
    """The windows (indices, in order) of each segment of windows scoring above `threshold`.

    A window stands for the `step_seconds` around its centre (the windows overlap, so this is the
    stretch it is the nearest window for). Spans merge across a gap of up to one step: one missed
    window does not split a turn. With `hysteresis`, a run of windows above `threshold -
    hysteresis` counts when one of them is above `threshold`. With `activity` (see
    `features.centre_activity`), windows centred on silence (`silent_centre_db` below the window's
    loudest part) are trimmed from the segment edges. With `growth_margin`, segments grow as
    `Decision` says, `scores` being averages over `smoothing_windows` of `raw_scores` (if given, the
    grown ends are placed on them).
    """
    stay, edge = lower_levels(threshold, hysteresis, edge_hysteresis)
    runs: list[list[int]] = []
    for index in np.flatnonzero(hysteresis_mask(scores, threshold, stay)):
        if runs and centres[index] - centres[runs[-1][-1]] <= 2 * step_seconds + 1e-6:
            runs[-1].append(index)
        else:
            runs.append([index])
    centred = np.ones(len(scores), bool) if activity is None else activity > silent_centre_db
    edge_ok = (scores > edge) & centred
    runs = [run for run in (trim_edges(run, edge_ok) for run in runs) if run]
    if growth_margin is not None:
        runs = grown_runs(runs, scores, centred, threshold + growth_margin, smoothing_windows, raw_scores)
    return runs


def lower_levels(threshold: float, hysteresis: float, edge_hysteresis: float | None) -> tuple[float, float]:
    """(stay, edge): the levels a segment's windows stay above, and its first and last windows are above."""
    return threshold - hysteresis, threshold - (hysteresis if edge_hysteresis is None else edge_hysteresis)


def hysteresis_mask(scores: np.ndarray, enter: float, stay: float) -> np.ndarray:
    """Windows above `stay` that are connected, through windows above `stay`, to one above `enter`."""
    mask = np.zeros(len(scores), bool)
    run_start = None
    for index, inside in enumerate([*(scores > stay), False]):
        if inside and run_start is None:
            run_start = index
        elif not inside and run_start is not None:
            if np.any(scores[run_start:index] > enter):
                mask[run_start:index] = True
            run_start = None
    return mask


def trim_edges(run: list[int], edge_ok: np.ndarray) -> list[int]:
    """The run from its first to its last window that may be an edge; empty if none may."""
    allowed = [position for position, index in enumerate(run) if edge_ok[index]]
    return run[allowed[0]:allowed[-1] + 1] if allowed else []


def grown_runs(runs: list[list[int]], scores: np.ndarray, centred: np.ndarray, confident: float,
               smoothing_windows: int, raw_scores: np.ndarray | None = None) -> list[list[int]]:
    """`runs` (window indices, in order), each whose scores' median is above `confident` grown at both
    ends (see `grown_end`), never into its neighbours; then, with `raw_scores`, grown on over those.

    The averaged ramp says roughly where a turn's edge is; the raw scores say which window: a window
    scores as the target once most of it is the turn, and they step there. Grown on the averages alone,
    turns began 0.2-0.5 s after their speech (real-1998, BENCHMARKS.md, 2026-12-05). Beyond an end the
    raw scores have no ramp, so their median is the level outside; the lowest would be an outlier."""
    grown = []
    for position, run in enumerate(runs):
        inside = float(np.median(scores[run[0]:run[-1] + 1]))
        if inside > confident:
            before = runs[position - 1][-1] + 1 if position else 0
            after = runs[position + 1][0] - 1 if position + 1 < len(runs) else len(scores) - 1
            first = grown_end(scores, centred, inside, run[0], -1, before, smoothing_windows)
            last = grown_end(scores, centred, inside, run[-1], 1, after, smoothing_windows)
            if raw_scores is not None:
                raw_inside = float(np.median(raw_scores[run[0]:run[-1] + 1]))
                first = grown_end(raw_scores, centred, raw_inside, first, -1, before, smoothing_windows, np.median)
                last = grown_end(raw_scores, centred, raw_inside, last, 1, after, smoothing_windows, np.median)
            run = [*range(first, run[0]), *run, *range(run[-1] + 1, last + 1)]
        grown.append(run)
    return grown


def grown_end(scores: np.ndarray, centred: np.ndarray, inside: float, end: int, direction: int, bound: int,
              smoothing_windows: int, outside: Callable[[np.ndarray], float] = np.min) -> int:
    """Where a segment's `end` window (its first, `direction` -1, or its last, +1) moves to: outward, up to
    `bound` and by at most half the smoothing width, while windows stay above half-way between the
    segment's median `inside` and the `outside` (by default the lowest) of the `smoothing_windows`
    windows beyond the end; then back off windows centred on silence (`centred` False).

    Averaged over the smoothing width, a turn's edge becomes a ramp as wide, whose middle is the edge
    whatever the levels on either side. A fixed threshold meets the ramp higher up the lower a turn
    scores, and a turn from a session the model was not trained on scores lower than the held-back
    clips its levels come from: fixed levels alone cut 0.5-2.5 s off such turns' ends (real-2414,
    real-1998; BENCHMARKS.md, 2026-12-04, fourteenth session)."""
    beyond = [index for index in range(end + direction, end + direction * (smoothing_windows + 1), direction)
              if (index - bound) * direction <= 0]
    if not beyond:
        return end
    level = (inside + float(outside(scores[beyond]))) / 2
    moved = end
    for index in beyond[:smoothing_windows // 2]:
        if scores[index] <= level:
            break
        moved = index
    while moved != end and not centred[moved]:
        moved -= direction
    return moved


def make_segment(centres: np.ndarray, scores: np.ndarray, run: list[int], step_seconds: float) -> Segment:
    return Segment(start=segment_start(float(centres[run[0]]), step_seconds),
                   end=round(float(centres[run[-1]]) + step_seconds / 2, 3),
                   score=round(float(np.mean(scores[run])), 4))


def segment_start(centre: float, step_seconds: float) -> float:
    """Where a segment whose first window is centred at `centre` begins."""
    return round(max(0.0, centre - step_seconds / 2), 3)


def time_on_air(broadcast_time: datetime.datetime | None, seconds: float) -> datetime.datetime | None:
    """When the time `seconds` of a recording whose 0:00 was broadcast at `broadcast_time` was (None: unknown)."""
    return None if broadcast_time is None else broadcast_time + datetime.timedelta(seconds=seconds)


@dataclass
class ScanResult:
    """What a scan found: segments, and every window's centre time (s), score and smoothed score;
    the levels of the decision that made the segments (`Decision`; None: not known, from an index
    written before they were stored)."""

    file: str
    model: str
    threshold: float
    duration: float
    segments: list[Segment]
    window_times: np.ndarray = field(repr=False)
    window_scores: np.ndarray = field(repr=False)
    smoothed_scores: np.ndarray = field(repr=False)
    stay_threshold: float | None = None
    edge_threshold: float | None = None
    # Each window's sound activity as the decision saw it (see `decide`), so that the windows can be
    # decided again at other levels (`evaluation.threshold_sweep`); None where not kept (JSON, the index).
    window_activity: np.ndarray | None = field(default=None, repr=False)
    # When the recording's 0:00 was broadcast (UTC), where its time tables say it (see
    # `service_tables.broadcast_clock`) or its recorder (`sidecars`): a segment's start was broadcast this many
    # seconds after it.
    broadcast_time: datetime.datetime | None = None
    # The audio stream the scan read, as its options chose it, so that a report plays what was scanned.
    track: TrackChoice = TrackChoice()

    def on_air(self, seconds: float) -> datetime.datetime | None:
        """When the recording's time `seconds` was broadcast (UTC), where known (see `broadcast_time`)."""
        return time_on_air(self.broadcast_time, seconds)

    def aired_within(self, since: datetime.datetime | None, before: datetime.datetime | None) -> ScanResult | None:
        """This result with only the segments whose start was on air at `since` or later and before `before` (None:
        no bound); None where none was, or the recording does not say when it was on air."""
        if self.broadcast_time is None:
            return None
        kept = [segment for segment in self.segments
                if (since is None or self.on_air(segment.start) >= since)
                and (before is None or self.on_air(segment.start) < before)]
        return replace(self, segments=kept) if kept else None

    def to_dict(self, windows: bool = False) -> dict:
        result = {"file": self.file, "model": self.model, "threshold": round(self.threshold, 4),
                  "stay_threshold": none_or_rounded(self.stay_threshold),
                  "edge_threshold": none_or_rounded(self.edge_threshold),
                  "duration": round(self.duration, 3), "broadcast_time": iso_time(self.broadcast_time),
                  "track": asdict(self.track),
                  "segments": [{"start": s.start, "end": s.end, "score": s.score} for s in self.segments]}
        if windows:
            result["windows"] = [{"time": round(float(t), 3), "score": round(float(smoothed), 4),
                                  "raw_score": round(float(raw), 4)}
                                 for t, smoothed, raw in zip(self.window_times, self.smoothed_scores,
                                                             self.window_scores, strict=True)]
        return result

    @classmethod
    def from_dict(cls, document: dict) -> ScanResult:
        """The result `to_dict` wrote (without "windows", its window arrays are empty)."""
        windows = document.get("windows") or []
        return cls(file=document["file"], model=document["model"], threshold=document["threshold"],
                   duration=document["duration"],
                   segments=[Segment(s["start"], s["end"], s["score"]) for s in document["segments"]],
                   window_times=np.array([w["time"] for w in windows], np.float64),
                   window_scores=np.array([w["raw_score"] for w in windows], np.float32),
                   smoothed_scores=np.array([w["score"] for w in windows], np.float32),
                   stay_threshold=document.get("stay_threshold"), edge_threshold=document.get("edge_threshold"),
                   broadcast_time=time_of(document.get("broadcast_time")),
                   track=TrackChoice(**document.get("track", {})))


def recording_duration(results: list[ScanResult]) -> float:
    """The duration of one recording from its results (one per model): the longest of theirs."""
    return max(result.duration for result in results)


def none_or_rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def iso_time(time: datetime.datetime | None) -> str | None:
    """`time` in ISO 8601, to the millisecond (None stays None)."""
    return None if time is None else time.isoformat(timespec="milliseconds")


def time_of(text: str | None) -> datetime.datetime | None:
    """The time `iso_time` wrote."""
    return None if text is None else datetime.datetime.fromisoformat(text)
