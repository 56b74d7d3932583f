"""Speech at segments' edges (`scan --speech-edges`): music alone holds none, only edges are asked
about, and asking them gives what asking every window gives."""

from __future__ import annotations

import numpy as np
from conftest import held_out_programme, words_between_music

from speakerspot import edge_speech
from speakerspot.audio import CHUNK_SECONDS
from speakerspot.edge_speech import EdgeSpeech, resampled
from speakerspot.features import FrontEnd, stream_windows
from speakerspot.scanning import array_chunks
from speakerspot.segments import decide
from speakerspot.speech_activity import VAD_SAMPLE_RATE


def asked(signal: np.ndarray, model, threshold: float) -> tuple[np.ndarray, EdgeSpeech]:
    """(window centres, the `EdgeSpeech` that saw them), the windows streamed in the scan's 10 s chunks
    and scored by `model`, its levels moved to `threshold`."""
    front_end = model.front_end
    speech, centres = EdgeSpeech(front_end, [model.decision.with_threshold(threshold)]), []
    for batch in stream_windows(array_chunks(signal, front_end.sample_rate), front_end, with_samples=True):
        centres.append(batch.centres)
        speech.add(batch, [model.score(batch.mels)])
    return np.concatenate(centres), speech


def test_music_alone_holds_no_speech_and_a_window_over_words_does(reference_model):
    front_end = reference_model.front_end
    signal, (first_word, last_word) = words_between_music(front_end)
    # Every window above the threshold: one segment, whose edges are asked about from both ends inwards.
    centres, speech = asked(signal, reference_model, threshold=-10.0)
    holds_speech = speech.finish()
    half = front_end.window_seconds / 2
    over_words = (centres + half > first_word + 0.5) & (centres - half < last_word - 0.5)
    music_alone = (centres + half < first_word - 0.2) | (centres - half > last_word + 0.2)
    assert over_words.sum() > 10 and music_alone.sum() > 50
    assert holds_speech[over_words].all()
    assert not holds_speech[music_alone].any()
    assert np.array(speech.asked, bool)[music_alone].all()


def test_only_the_edges_of_segments_are_asked_about(reference_model):
    front_end = reference_model.front_end
    signal, _ = words_between_music(front_end, music_seconds=0.0)
    centres, speech = asked(signal, reference_model, threshold=-10.0)
    assert speech.finish().all()
    assert np.flatnonzero(np.array(speech.asked, bool)).tolist() == [0, len(centres) - 1]
    centres, speech = asked(signal, reference_model, threshold=10.0)  # no segment: nothing to ask
    assert speech.finish().all() and not any(speech.asked)


def test_asking_the_edges_gives_the_segments_that_asking_every_window_gives(reference_model):
    """Turns of the target among other voices, with music between them: the segments decided on the
    edges asked about are those decided on every window asked about."""
    front_end = reference_model.front_end
    programme, _ = held_out_programme()
    programme = resampled(programme, 16000, front_end.sample_rate)
    music, _ = words_between_music(front_end)
    signal = np.concatenate([programme, music, programme[::-1].copy()])
    threshold = reference_model.decision.threshold - 0.3  # lower: music scores too
    centres, speech = asked(signal, reference_model, threshold)
    holds_speech = speech.finish()
    everywhere = EdgeSpeech(front_end, speech.decisions)
    for batch in stream_windows(array_chunks(signal, front_end.sample_rate), front_end, with_samples=True):
        everywhere.add(batch, [reference_model.score(batch.mels)])
        everywhere.ask(list(range(len(everywhere.centres) - len(batch.centres), len(everywhere.centres))))
    every_window = everywhere.finish()
    activity, scores, decision = np.array(speech.activity), np.array(speech.scores[0]), speech.decisions[0]

    def segments(holds: np.ndarray) -> list:
        return decide(centres, scores, np.where(holds, activity, -np.inf), decision, front_end.step_seconds)[1]

    assert segments(holds_speech) == segments(every_window)
    assert segments(holds_speech) != segments(np.ones(len(centres), bool))  # the music made a segment
    assert sum(speech.asked) < len(centres) / 4


def test_a_stretch_longer_than_the_audio_held_is_asked_about_as_it_goes_with_the_same_result(
        reference_model, monkeypatch):
    front_end = reference_model.front_end
    signal, _ = words_between_music(front_end)
    _, speech = asked(signal, reference_model, threshold=-10.0)  # one stretch, one segment
    expected = speech.finish()
    monkeypatch.setattr(edge_speech, "HELD_SECONDS", 15.0)
    held = []
    speech = EdgeSpeech(front_end, speech.decisions)
    for batch in stream_windows(array_chunks(signal, front_end.sample_rate), front_end, with_samples=True):
        speech.add(batch, [reference_model.score(batch.mels)])
        held.append(speech.held_seconds())
    assert max(held) < 15.0 + 2 * CHUNK_SECONDS  # let go of as it goes, not held to the end
    np.testing.assert_array_equal(speech.finish(), expected)


def test_audio_at_the_scans_rate_is_band_limited_to_the_detectors():
    rate = FrontEnd().sample_rate
    time = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 1000 * time).astype(np.float32)
    resampled_tone = resampled(tone + np.sin(2 * np.pi * 10000 * time).astype(np.float32), rate)
    assert len(resampled_tone) == VAD_SAMPLE_RATE
    expected = np.sin(2 * np.pi * 1000 * np.arange(VAD_SAMPLE_RATE) / VAD_SAMPLE_RATE)
    assert np.abs(resampled_tone - expected)[100:-100].max() < 1e-3  # the 10 kHz tone, above 8 kHz, is gone
