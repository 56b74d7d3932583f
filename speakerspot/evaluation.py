"""Score detections against the truth, with the definitions of the development benchmark's scorer.

Frame metrics on a 0.1 s grid, ignoring frames within `collar` seconds of a truth boundary; a truth
turn is found when detections cover at least half of it; a detected segment is a false alarm when
less than 20% of it lies on truth; the window EER labels each window by whether its centre lies on
truth (collar frames excluded).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .config import TrackChoice
from .errors import SpeakerspotError
from .metrics import equal_error_rate
from .segments import Decision, ScanResult, decide

log = logging.getLogger(__name__)

GRID_SECONDS = 0.1
COLLAR_SECONDS = 0.5
TURN_COVERAGE = 0.5
FALSE_ALARM_COVERAGE = 0.2
# How far `threshold_sweep` moves a model's levels: about as far as the best levels of the development
# sets' models lay from their calibrated ones (-0.325 to +0.225; BENCHMARKS.md, 2026-12-06).
SWEEP_SHIFTS = tuple(round(0.05 * step, 2) for step in range(-6, 7))
# A label `scan -f audacity` writes: the model's name and the segment's mean score, "anna (0.12)".
SCORED_LABEL = re.compile(r"(.+) \([+-]?\d+(?:\.\d+)?\)")


@dataclass(frozen=True)
class Evaluation:
    frame_precision: float
    frame_recall: float
    frame_f1: float
    turns: int
    turns_found: int
    detected_segments: int
    false_alarm_segments: int
    false_alarms_per_hour: float
    eer: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self, between: str = ", ") -> str:
        """The figures as `eval` prints them: frames, then (after `between`) turns, false alarms and the window
        EER."""
        eer = "n/a" if self.eer is None else f"{self.eer:.1%}"
        return (f"frame precision {self.frame_precision:.3f}  recall {self.frame_recall:.3f}  F1 {self.frame_f1:.3f}"
                f"{between}turns found {self.turns_found}/{self.turns}  false alarms {self.false_alarm_segments} "
                f"({self.false_alarms_per_hour:.1f}/hour)  window EER {eer}")


def grid_index(seconds: float) -> int:
    return max(0, round(seconds / GRID_SECONDS))


def frame_mask(intervals: list[tuple[float, float]], frames: int) -> np.ndarray:
    mask = np.zeros(frames, bool)
    for start, end in intervals:
        mask[grid_index(start):grid_index(end)] = True
    return mask


def evaluate(segments: list[tuple[float, float]], truth: list[tuple[float, float]], duration: float,
             window_times: np.ndarray | None = None, window_scores: np.ndarray | None = None,
             collar: float = COLLAR_SECONDS) -> Evaluation:
    """Compare detected `segments` with `truth` intervals (seconds) over a recording of `duration` s."""
    frames = int(np.ceil(duration / GRID_SECONDS))
    on_truth, detected = frame_mask(truth, frames), frame_mask(segments, frames)
    scored = np.ones(frames, bool)
    collar_frames = round(collar / GRID_SECONDS)
    for boundary in (b for interval in truth for b in interval):
        scored[max(0, grid_index(boundary) - collar_frames):grid_index(boundary) + collar_frames] = False
    hits = int((on_truth & detected & scored).sum())
    false_hits = int((~on_truth & detected & scored).sum())
    misses = int((on_truth & ~detected & scored).sum())
    precision = hits / (hits + false_hits) if hits + false_hits else 0.0
    recall = hits / (hits + misses) if hits + misses else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    found = sum(1 for start, end in truth if detected[grid_index(start):grid_index(end)].mean() >= TURN_COVERAGE)
    false_alarms = 0
    for start, end in segments:
        covered = on_truth[grid_index(start):max(grid_index(start) + 1, grid_index(end))]
        false_alarms += covered.size == 0 or covered.mean() < FALSE_ALARM_COVERAGE
    eer = None
    if window_times is not None and window_scores is not None and len(window_times):
        index = np.clip(np.round(np.asarray(window_times) / GRID_SECONDS).astype(int), 0, frames - 1)
        keep = scored[index]
        labels, scores = on_truth[index][keep], np.asarray(window_scores)[keep]
        if labels.any() and not labels.all():
            eer = round(equal_error_rate(scores[labels], scores[~labels])[0], 4)
    return Evaluation(frame_precision=round(precision, 4), frame_recall=round(recall, 4), frame_f1=round(f1, 4),
                      turns=len(truth), turns_found=found, detected_segments=len(segments),
                      false_alarm_segments=int(false_alarms),
                      false_alarms_per_hour=round(false_alarms / (duration / 3600), 2) if duration else 0.0,
                      eer=eer)


# A scan and the truth of its recording: what `eval` scores.
AnnotatedScan = tuple[ScanResult, list[tuple[float, float]]]
Spans = list[tuple[float, float]]


def evaluate_scan(result: ScanResult, truth: list[tuple[float, float]], collar: float = COLLAR_SECONDS) -> Evaluation:
    """`evaluate` a scan: its segments, and its windows' smoothed scores (those the threshold is compared to)."""
    return evaluate_scans([(result, truth)], collar)


def evaluate_scans(scans: list[AnnotatedScan], collar: float = COLLAR_SECONDS) -> Evaluation:
    """`evaluate_scan` of several annotated recordings as one: their frames, turns, segments and windows pooled,
    the false alarms per hour of their whole length, so that a threshold is judged on all of them at once."""
    return evaluate_end_to_end([([(s.start, s.end) for s in result.segments], truth, result.duration,
                                 result.window_times, result.smoothed_scores) for result, truth in scans], collar)


def evaluate_end_to_end(recordings: list[tuple[Spans, Spans, float, np.ndarray | None, np.ndarray | None]],
                        collar: float = COLLAR_SECONDS) -> Evaluation:
    """`evaluate` of recordings given as (segments, truth, duration, window times, window scores), laid end to
    end with a gap between them that keeps a truth boundary's collar to its own recording, each beginning on the
    frame grid (so that its frames are those it has alone)."""
    segments, truth, times, scores, offset, length = [], [], [], [], 0.0, 0.0
    for part_segments, part_truth, duration, part_times, part_scores in recordings:
        segments += [(start + offset, end + offset) for start, end in part_segments]
        truth += [(start + offset, end + offset) for start, end in part_truth]
        if part_times is not None and part_scores is not None:
            times.append(np.asarray(part_times) + offset)
            scores.append(np.asarray(part_scores))
        length = offset + duration  # of the recordings laid so far
        offset = math.ceil((length + collar) / GRID_SECONDS) * GRID_SECONDS
    windowed = len(times) == len(recordings)
    pooled = evaluate(segments, truth, length, np.concatenate(times) if windowed else None,
                      np.concatenate(scores) if windowed else None, collar)
    hours = sum(duration for _, _, duration, _, _ in recordings) / 3600
    return replace(pooled, false_alarms_per_hour=round(pooled.false_alarm_segments / hours, 2) if hours else 0.0)


def threshold_sweep(scans: list[AnnotatedScan], decision: Decision, step_seconds: float,
                    shifts: tuple[float, ...] = SWEEP_SHIFTS, merge_gap: float = 0.0,
                    min_seconds: float | None = None) -> list[tuple[float, Evaluation]]:
    """(threshold, evaluation of every scan of `scans` as one, see `evaluate_scans`) with `decision`'s levels
    moved together by each of `shifts`: the scans' windows decided again (segments joined and dropped as
    `decide` says), as a scan with that `--threshold` would decide them, not scanned again. The window EER
    does not depend on the levels: it is left out (None)."""
    if any(result.window_activity is None for result, _ in scans):
        raise ValueError("the result keeps no window activity (from JSON or an index): scan the recording")
    rows = []
    for shift in shifts:
        moved = decision.with_threshold(round(decision.threshold + shift, 4))
        decided = [decide(result.window_times, result.window_scores, result.window_activity, moved, step_seconds,
                          merge_gap, min_seconds)[1] for result, _ in scans]
        rows.append((moved.threshold, evaluate_end_to_end([([(s.start, s.end) for s in segments], truth,
                                                             result.duration, None, None)
                                                            for segments, (result, truth) in zip(decided, scans,
                                                                                                 strict=True)])))
    return rows


def best_in_sweep(rows: list[tuple[float, Evaluation]], every_turn: bool = False) -> int:
    """The row of `threshold_sweep` a user would pick (its position): the best frame F1, of equals the
    nearest to the middle row (the levels as they were), among the rows that find every turn if
    `every_turn` and any does. Picked on one recording, it held on another of the same voice for some
    voices and not for others (BENCHMARKS.md, 2026-12-06, twenty-eighth session)."""
    middle = len(rows) // 2
    finding_all = [i for i, (_, row) in enumerate(rows) if row.turns_found == row.turns] if every_turn else []
    return max(finding_all or range(len(rows)), key=lambda i: (rows[i][1].frame_f1, -abs(i - middle)))


# Where `eval` looks for a recording's truth when none is given: beside it, by its name (an Audacity label track
# as `scan -o REC.labels.txt` names one, to correct by hand; JSON; RTTM).
TRUTH_BESIDE = (".labels.txt", ".truth.json", ".rttm")


def truth_beside(recording: str | Path, track: TrackChoice = TrackChoice()) -> Path | None:
    """The first of `truth_names(recording, track)` that is a file, a channel's name in it matched case aside
    (as `--programme` picks a channel: the scan's outputs are named as it was given); None where none is."""
    names = truth_names(recording, track)
    if not track.label:
        return next((path for path in names if path.is_file()), None)
    folder = Path(recording).parent
    try:
        present = {path.name.casefold(): path for path in folder.iterdir()
                   if path.name.startswith(Path(recording).stem) and path.is_file()}
    except OSError:
        return None
    return next((present[path.name.casefold()] for path in names if path.name.casefold() in present), None)


def truth_names(recording: str | Path, track: TrackChoice = TrackChoice()) -> list[Path]:
    """Where a truth file of `recording` is looked for: beside it, named after it (`TRUTH_BESIDE`); of an audio
    stream `track` chooses (a multiplex capture's channel), first named after both, as its outputs are
    (`monday.ZDF.truth.json`, see `TrackChoice.file_part`): a capture's channels speak apart."""
    recording = Path(recording)
    stems = [f"{recording.stem}.{track.file_part}"] if track.label else []
    return [recording.with_name(stem + suffix) for stem in [*stems, recording.stem] for suffix in TRUTH_BESIDE]


def read_truth(path: str | Path, speaker: str | None = None) -> list[tuple[float, float]]:
    """Truth intervals from JSON (`{"intervals": [[start, end], ...]}`), RTTM (with `speaker`) or an Audacity label
    track (`.txt`, as Audacity exports one: start, end and label, tab-separated; with `speaker`, the regions labelled
    so, else every region), in order. An interval that does not start at 0 or later and end after it starts is
    refused (it made every figure false), as is a line of RTTM or of labels whose times are not numbers; a file
    without a turn of `speaker` is taken as a recording where it does not speak, with a warning naming the speakers
    it has."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpeakerspotError(path, f"cannot read the truth file: {error.strerror}") from None
    if path.suffix.lower() == ".rttm":
        if not speaker:
            raise SpeakerspotError(path, "an RTTM truth file needs the speaker's name (--speaker)")
        intervals = turns_of(path, speaker, rttm_turns(path, text))
    elif path.suffix.lower() == ".txt" and not text.lstrip().startswith("{"):  # JSON named .txt is read as JSON
        labelled = audacity_regions(path, text)
        intervals = turns_of(path, speaker, labelled) if speaker else [(start, end) for _, start, end in labelled]
    else:
        try:
            intervals = [(float(start), float(end)) for start, end in json.loads(text)["intervals"]]
        except (ValueError, KeyError, TypeError):
            raise SpeakerspotError(path, 'not a truth file: expected JSON {"intervals": [[start, end], ...]}') from None
    for start, end in intervals:
        if not 0 <= start < end < math.inf:
            raise SpeakerspotError(path, f"the interval [{start:g}, {end:g}] does not start at 0 or later and end "
                                         "after it starts")
    return sorted(intervals)


def rttm_turns(path: Path, text: str) -> list[tuple[str, float, float]]:
    """The (speaker, start, end) of each SPEAKER line in RTTM `text` (of the file at `path`)."""
    turns = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if len(fields) < 8 or fields[0] != "SPEAKER":
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise SpeakerspotError(path, f"line {number}: its onset and duration are not numbers: "
                                         f"{line.strip()}") from None
        turns.append((fields[7], start, start + duration))
    return turns


def audacity_regions(path: Path, text: str) -> list[tuple[str, float, float]]:
    """The (label, start, end) of each region of an Audacity label track `text` (of the file at `path`): lines of
    start, end and label, tab-separated, as `scan -f audacity` writes them, whose labels, "MODEL (SCORE)", are read
    as the model's name. A point label (its end its start) marks no turn and is passed over, with a warning; so are
    the frequency lines a spectral selection adds (begun by a backslash)."""
    regions, points = [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        try:
            start, end = float(fields[0]), float(fields[1])
        except (ValueError, IndexError):
            raise SpeakerspotError(path, f"line {number}: not a label of an Audacity label track (start, end and "
                                         f"label, tab-separated): {line.strip()}") from None
        if end == start:
            points += 1
        else:
            label = fields[2].strip() if len(fields) > 2 else ""
            scored = SCORED_LABEL.fullmatch(label)
            regions.append((scored[1] if scored else label, start, end))
    if points:
        log.warning("%s: %d point label%s passed over: a turn is a region, its start and its end", path, points,
                    "s" if points > 1 else "")
    return regions


def turns_of(path: Path, speaker: str, labelled: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """The (start, end) of `speaker`'s turns among `labelled` (speaker, start, end), read from the file at `path`."""
    intervals = [(start, end) for name, start, end in labelled if name == speaker]
    if not intervals:
        speakers = sorted({name for name, _, _ in labelled if name})
        log.warning("%s: no turn of speaker %s; its speakers: %s", path, speaker, ", ".join(speakers) or "none")
    return intervals
