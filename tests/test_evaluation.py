"""`speakerspot eval`'s figures on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES

from speakerspot.errors import SpeakerspotError
from speakerspot.evaluation import evaluate, read_truth

TRUTH = [(10.0, 20.0), (50.0, 60.0)]


def test_perfect_detections():
    report = evaluate(TRUTH, TRUTH, 100.0)
    assert (report.frame_precision, report.frame_recall, report.frame_f1) == (1.0, 1.0, 1.0)
    assert report.turns_found == 2 and report.false_alarm_segments == 0


def test_one_turn_found_and_one_false_alarm():
    report = evaluate([(10.0, 20.0), (70.0, 80.0)], TRUTH, 100.0)
    # scored frames exclude 0.5 s either side of the 4 boundaries: truth frames 10.5–19.5 and 50.5–59.5
    # (90 + 90), false alarm 70–80 (100 frames); hits 90
    assert report.frame_precision == round(90 / 190, 4)
    assert report.frame_recall == 0.5
    assert report.turns_found == 1 and report.false_alarm_segments == 1
    assert report.false_alarms_per_hour == 36.0


def test_half_a_turn_covered_counts_as_found():
    assert evaluate([(10.0, 15.0)], TRUTH, 100.0).turns_found == 1
    assert evaluate([(10.0, 14.8)], TRUTH, 100.0).turns_found == 0


def test_window_eer_from_scores():
    times = np.arange(0, 100, 0.5)
    perfect = np.array([1.0 if 10 <= t < 20 or 50 <= t < 60 else 0.0 for t in times])
    assert evaluate([], TRUTH, 100.0, times, perfect).eer == 0.0
    assert evaluate([], TRUTH, 100.0, times, 1 - perfect).eer == 1.0


def test_truth_from_json_and_rttm(tmp_path):
    as_json = tmp_path / "truth.json"
    as_json.write_text(json.dumps({"intervals": [[1, 2], [3, 4.5]]}))
    assert read_truth(as_json) == [(1.0, 2.0), (3.0, 4.5)]
    as_rttm = tmp_path / "truth.rttm"
    as_rttm.write_text("SPEAKER rec 1 3.000 1.500 <NA> <NA> anna <NA> <NA>\n"
                       "SPEAKER rec 1 1.000 1.000 <NA> <NA> anna <NA> <NA>\n"
                       "SPEAKER rec 1 2.000 1.000 <NA> <NA> bob <NA> <NA>\n")
    assert read_truth(as_rttm, "anna") == [(1.0, 2.0), (3.0, 4.5)]
    with pytest.raises(SpeakerspotError, match="--speaker"):
        read_truth(as_rttm)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SpeakerspotError, match="not a truth file"):
        read_truth(bad)


def test_truth_from_an_audacity_label_track(tmp_path, caplog):
    labels = tmp_path / "news.txt"  # as Audacity exports labels, with a spectral selection's frequency line
    labels.write_text("3.000000\t4.500000\tanna\n\\\t300.000000\t3400.000000\n1.000000\t2.000000\tanna\n"
                      "2.000000\t3.000000\tbob\n5.000000\t5.000000\tapplause\n6.000000\t7.250000\n")
    assert read_truth(labels) == [(1.0, 2.0), (2.0, 3.0), (3.0, 4.5), (6.0, 7.25)]  # every region
    assert read_truth(labels, "anna") == [(1.0, 2.0), (3.0, 4.5)]
    assert "news.txt: 1 point label passed over: a turn is a region, its start and its end" in caplog.text
    assert read_truth(labels, "ana") == [] and "no turn of speaker ana; its speakers: anna, bob" in caplog.text
    labels.write_text(json.dumps({"intervals": [[1, 2]]}))  # JSON, named .txt
    assert read_truth(labels) == [(1.0, 2.0)]
    labels.write_text("1.0\t2.0\tanna\n1,5\t2,5\tanna\n")  # a decimal comma
    with pytest.raises(SpeakerspotError, match="line 2: not a label of an Audacity label track"):
        read_truth(labels)


def test_scan_audacity_labels_read_back_as_truth_are_its_segments(tmp_path, reference_model):
    from speakerspot.scanning import scan
    from speakerspot.writers import render

    result = scan(reference_model, FIXTURES / "sample.ts")
    labels = tmp_path / "sample.labels.txt"
    labels.write_text(render(result, "audacity"))
    assert len(result.segments) >= 2
    assert read_truth(labels) == [(pytest.approx(s.start), pytest.approx(s.end)) for s in result.segments]
    # Its labels name the model and each segment's score, "fixture (-0.06)": --speaker names the model. A region
    # corrected by hand and labelled so, without a score, is the model's too; another name is another speaker's.
    labels.write_text(render(result, "audacity") + "70.000000\t72.000000\tfixture\n80.000000\t81.000000\tbob\n")
    corrected = sorted([(s.start, s.end) for s in result.segments] + [(70.0, 72.0)])
    assert read_truth(labels, result.model) == [(pytest.approx(start), pytest.approx(end)) for start, end in corrected]


@pytest.mark.parametrize("intervals", [[[3, 1]], [[-1, 2]], [[2, 2]], [[1, "nan"]], [[1, 1e400]]])
def test_an_interval_that_does_not_end_after_it_starts_is_refused(tmp_path, intervals):
    # [3, 1] gave every figure false, with numpy's warnings of empty slices.
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"intervals": intervals}))
    with pytest.raises(SpeakerspotError, match=r"the interval \[.*\] does not start at 0 or later and end after"):
        read_truth(truth)


def test_rttm_with_a_line_that_is_not_numbers_or_without_the_speaker_says_so(tmp_path, caplog):
    truth = tmp_path / "truth.rttm"
    truth.write_text("SPEAKER rec 1 1.000 1.000 <NA> <NA> anna <NA> <NA>\n"
                     "SPEAKER rec 1 2.000 1.000 <NA> <NA> bob <NA> <NA>\n")
    assert read_truth(truth, "ana") == [] and "no turn of speaker ana; its speakers: anna, bob" in caplog.text
    truth.write_text("SPEAKER rec 1 x 1.000 <NA> <NA> anna <NA> <NA>\n")
    with pytest.raises(SpeakerspotError, match="line 1: its onset and duration are not numbers"):  # a traceback
        read_truth(truth, "anna")
