"""From window scores to segments: threshold, merging, smoothing, silent edges, growth, minimum length."""

from __future__ import annotations

import numpy as np

from speakerspot.segments import (
    Decision,
    Segment,
    SettledSegments,
    decide,
    hysteresis_mask,
    joined,
    segments_from_scores,
    smooth_scores,
)

STEP = 0.5


def centres(n: int) -> np.ndarray:
    return 1.0 + STEP * np.arange(n)


def test_windows_above_threshold_merge_and_span_half_a_step_around_their_centres():
    scores = np.array([0.1, 0.9, 0.8, 0.95, 0.2, 0.2, 0.9, 0.1])
    segments = segments_from_scores(centres(8), scores, 0.7, STEP)
    assert segments == [Segment(1.25, 2.75, round((0.9 + 0.8 + 0.95) / 3, 4)), Segment(3.75, 4.25, 0.9)]


def test_a_single_missed_window_does_not_split_a_segment_but_two_do():
    one_missed = segments_from_scores(centres(5), np.array([0.9, 0.9, 0.1, 0.9, 0.9]), 0.7, STEP)
    assert [(s.start, s.end) for s in one_missed] == [(0.75, 3.25)]
    two_missed = segments_from_scores(centres(6), np.array([0.9, 0.9, 0.1, 0.1, 0.9, 0.9]), 0.7, STEP)
    assert len(two_missed) == 2


def test_threshold_is_strict_and_nothing_above_gives_no_segment():
    assert segments_from_scores(centres(3), np.array([0.7, 0.7, 0.7]), 0.7, STEP) == []
    assert segments_from_scores(centres(0), np.zeros(0), 0.7, STEP) == []


def test_windows_centred_on_silence_are_trimmed_from_the_edges_only():
    scores = np.full(7, 0.9)
    activity = np.array([-60.0, -3.0, -2.0, -40.0, -1.0, -4.0, -50.0])
    (segment,) = segments_from_scores(centres(7), scores, 0.7, STEP, activity)
    assert (segment.start, segment.end) == (1.25, 3.75)  # windows 1..5; the silent pause inside stays
    # The level is the model's decision's, stored in its file: at -55 dB only the first window is silence.
    decision = Decision(threshold=0.7, smoothing_windows=1, min_segment_seconds=0, silent_centre_db=-55.0)
    _, (lenient,) = decide(centres(7), scores, activity, decision, STEP)
    assert (lenient.start, lenient.end) == (1.25, 4.25)


def test_smoothing_is_a_centred_moving_average_with_padded_ends():
    np.testing.assert_allclose(smooth_scores(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3), [0, 1, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(smooth_scores(np.array([3.0, 0.0, 0.0]), 3), [2, 1, 0], atol=1e-6)


def test_decide_drops_an_isolated_spike_and_keeps_a_turn():
    scores = np.array([0.1] * 6 + [0.95] + [0.1] * 6 + [0.9] * 8 + [0.1] * 4)
    smoothed, segments = decide(centres(len(scores)), scores, None, Decision(threshold=0.6), STEP)
    assert len(smoothed) == len(scores)
    assert [(s.start, s.end) for s in segments] == [(7.25, 11.25)]  # the turn's windows 13-20, whole


def test_hysteresis_keeps_neighbours_above_the_lower_level_only_next_to_a_confident_window():
    scores = np.array([0.5, 0.6, 0.9, 0.6, 0.3, 0.6, 0.65, 0.5])
    assert hysteresis_mask(scores, 0.8, 0.55).tolist() == [False, True, True, True, False, False, False, False]
    assert hysteresis_mask(scores, 0.8, 0.8).tolist() == [False, False, True, False, False, False, False, False]
    (segment,) = segments_from_scores(centres(8), scores, 0.8, STEP, hysteresis=0.25)
    assert (segment.start, segment.end) == (1.25, 2.75)


def test_segment_ends_are_trimmed_to_windows_above_the_edge_level_and_a_dip_inside_stays():
    # A turn whose averaged score spills into the windows beside it, and dips in the middle.
    scores = np.array([0.1, 0.35, 0.5, 0.9, 0.95, 0.35, 0.9, 0.6, 0.4, 0.1])
    (loose,) = segments_from_scores(centres(10), scores, 0.8, STEP, hysteresis=0.5)
    assert (loose.start, loose.end) == (1.25, 5.25)  # windows 1..8, all above the stay level 0.3
    (trimmed,) = segments_from_scores(centres(10), scores, 0.8, STEP, hysteresis=0.5, edge_hysteresis=0.25)
    assert (trimmed.start, trimmed.end) == (2.25, 4.75)  # windows 3..7: ends above 0.55, the dip kept


def turn_scores(inside: float) -> np.ndarray:
    """Window scores of a turn (windows 10-21, from 5.75 s to 11.75 s) among others scoring -0.5."""
    return np.array([-0.5] * 10 + [inside] * 12 + [-0.5] * 10)


def test_a_turn_grows_to_the_middle_of_its_averaged_edges_and_a_level_alone_cuts_it_short():
    scores = turn_scores(0.1)
    _, (cut,) = decide(centres(len(scores)), scores, None, Decision(threshold=0.0, growth_margin=None), STEP)
    assert (cut.start, cut.end) == (6.75, 10.75)  # the average reaches 0 only two windows in from each end
    _, (grown,) = decide(centres(len(scores)), scores, None, Decision(threshold=0.0), STEP)
    assert (grown.start, grown.end) == (5.75, 11.75)
    silent = np.zeros(len(scores))
    silent[10] = -60.0  # the turn's first window centred on silence: not an edge, grown or not
    _, (backed_off,) = decide(centres(len(scores)), scores, silent, Decision(threshold=0.0), STEP)
    assert (backed_off.start, backed_off.end) == (6.25, 11.75)


def test_a_segment_that_only_just_reaches_the_threshold_does_not_grow():
    scores = turn_scores(0.03)
    decision = Decision(threshold=0.0, growth_margin=0.05)
    _, (kept,) = decide(centres(len(scores)), scores, None, decision, STEP)
    _, (plain,) = decide(centres(len(scores)), scores, None, Decision(threshold=0.0, growth_margin=None), STEP)
    assert kept == plain
    _, (grown,) = decide(centres(len(scores)), scores, None, Decision(threshold=0.0, growth_margin=0.02), STEP)
    assert grown.start < plain.start and grown.end > plain.end


def test_a_grown_end_is_placed_where_the_raw_scores_step():
    # A turn (windows 10-21, 5.75-11.75 s) whose first windows score unevenly, after a stretch that
    # scores lower than the others before it: the averaged ramp meets the growth level a window late.
    scores = np.array([-0.45] * 6 + [-0.6] * 4 + [-0.1, -0.2, 0.0] + [0.05] * 9 + [-0.45] * 10)
    _, (averaged,) = decide(centres(len(scores)), scores, None, Decision(threshold=-0.15, raw_edges=False), STEP)
    assert (averaged.start, averaged.end) == (6.25, 11.75)
    _, (placed,) = decide(centres(len(scores)), scores, None, Decision(threshold=-0.15), STEP)
    assert (placed.start, placed.end) == (5.75, 11.75)
    silent = np.zeros(len(scores))
    silent[10] = -60.0  # nor on the raw scores does a window centred on silence become an edge
    _, (backed_off,) = decide(centres(len(scores)), scores, silent, Decision(threshold=-0.15), STEP)
    assert backed_off.start == 6.25


def test_windows_without_sound_never_make_a_segment_however_they_score():
    scores = np.full(12, 0.9)  # digital silence can embed like anything, once each band's mean is removed
    activity = np.array([-np.inf] * 6 + [-2.0] * 6)
    _, (segment,) = decide(centres(12), scores, activity, Decision(threshold=0.7), STEP)
    assert segment.start == centres(12)[6] - STEP / 2
    _, segments = decide(centres(12), scores, np.full(12, -np.inf), Decision(threshold=0.7), STEP)
    assert segments == []


def test_segments_closer_than_the_merge_gap_join_before_short_ones_are_dropped():
    pieces = [Segment(1.0, 2.0, 0.5), Segment(3.0, 6.0, 0.9), Segment(9.0, 9.5, 0.8)]
    assert joined(pieces, 1.0) == pieces  # 1 s apart: not closer than 1 s
    assert joined(pieces, 1.5) == [Segment(1.0, 6.0, round((0.5 * 1 + 0.9 * 3) / 4, 4)), Segment(9.0, 9.5, 0.8)]
    assert joined(pieces, 3.5) == [Segment(1.0, 9.5, round((0.5 * 1 + 0.9 * 3 + 0.8 * 0.5) / 4.5, 4))]
    # two short bursts of one turn, broken by a pause of a few windows: dropped apart, kept joined
    scores = np.array([0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1])
    decision = Decision(threshold=0.7, smoothing_windows=1, growth_margin=None, min_segment_seconds=1.0)
    assert decide(centres(8), scores, None, decision, STEP)[1] == []
    _, (turn,) = decide(centres(8), scores, None, decision, STEP, merge_gap=2.5)
    assert (turn.start, turn.end, turn.score) == (1.25, 4.25, 0.9)
    assert decide(centres(8), scores, None, decision, STEP, merge_gap=2.5, min_seconds=3.5)[1] == []


def random_scan(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, activity, raw scores) like a scan's: turns of the target among other voices, single
    windows that score high, silent windows, and a gap in the audio."""
    scores = rng.normal(-0.3, 0.15, n)
    for _ in range(rng.integers(0, 8)):
        start = rng.integers(0, n)
        scores[start:start + rng.integers(1, 40)] = rng.normal(0.25, 0.15)
    scores[rng.integers(0, n, 5)] = 0.4  # spikes
    activity = np.where(rng.random(n) < 0.05, -np.inf, rng.uniform(-40.0, 0.0, n))
    times = centres(n)
    times[rng.integers(1, n):] += rng.choice([0.0, 30.0])  # audio missing for a while
    return times, activity, scores.astype(np.float32)


def test_segments_settled_as_windows_come_are_those_of_the_whole_recording():
    # scan(on_segment=…) tells segments before the scan ends: each must be one the whole recording gives
    rng = np.random.default_rng(0)
    told_early = told_in_all = 0
    for trial in range(120):
        n = int(rng.integers(1, 600))
        times, activity, scores = random_scan(rng, n)
        decisions = [Decision(threshold=float(rng.uniform(-0.1, 0.2)), hysteresis=float(rng.choice([0.0, 0.1])),
                              smoothing_windows=int(rng.choice([1, 3, 7])), edge_hysteresis=rng.choice([None, 0.05]),
                              growth_margin=rng.choice([None, 0.05]), raw_edges=bool(rng.integers(2)))
                     for _ in range(int(rng.integers(1, 3)))]
        other_scores = [scores] + [np.roll(scores, 37) for _ in decisions[1:]]
        merge_gap = float(rng.choice([0.0, 3.0, 20.0]))
        min_seconds = rng.choice([None, 0.0, 4.0])
        settled = SettledSegments(decisions, STEP, merge_gap, min_seconds)
        told, offset = [], 0
        while offset < n:
            size = int(rng.integers(1, 60))
            told += settled.add(times[offset:offset + size], activity[offset:offset + size],
                                [s[offset:offset + size] for s in other_scores])
            offset += size
        early = len(told)
        told += settled.finish()
        for index, decision in enumerate(decisions):
            _, whole = decide(times, other_scores[index], activity, decision, STEP, merge_gap, min_seconds)
            assert [segment for told_index, segment in told if told_index == index] == whole, trial
        told_early += early
        told_in_all += len(told)
    assert told_early > told_in_all / 2  # most before the end, not all at it


def test_settled_segments_let_go_of_the_windows_they_decided():
    # a stream followed for days: what is held stays bounded, turns or not
    rng = np.random.default_rng(1)
    decision = Decision(threshold=0.0, hysteresis=0.1, growth_margin=0.05)
    settled = SettledSegments([decision], STEP)
    told, held = 0, []
    for batch in range(2000):  # 20 windows a batch: 40,000 windows, 5.5 hours
        scores = rng.normal(-0.3, 0.1, 20).astype(np.float32)
        if batch % 10 == 0:
            scores[5:15] = 0.3  # a turn every 100 s
        told += len(settled.add(STEP * (20 * batch + np.arange(20)), np.zeros(20), [scores]))
        held.append(len(settled.centres) + len(settled.stretches.scores[0]))
    assert told >= 199  # every turn but the last is told before the end
    assert max(held) < 400
