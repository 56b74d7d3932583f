"""Speech activity in training clips: speech found, pauses and music beds between the words not."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import SPEECH, held_out_programme, programme_clip, read_clip, words_between_music

from speakerspot import speech_activity
from speakerspot.audio import CHUNK_SECONDS
from speakerspot.augment import rms
from speakerspot.clips import Clip, backgrounds
from speakerspot.features import FrontEnd, stream_windows
from speakerspot.scanning import array_chunks
from speakerspot.segments import decide
from speakerspot.speech_activity import (
    VAD_FRAME_SAMPLES,
    VAD_SAMPLE_RATE,
    EdgeSpeech,
    resampled,
    speech_frames,
    speech_share,
    speech_spans,
)

FRAME_SECONDS = VAD_FRAME_SAMPLES / VAD_SAMPLE_RATE


def frame_times(count: int) -> np.ndarray:
    return (np.arange(count) + 0.5) * FRAME_SECONDS


def test_speech_is_found_and_the_pause_and_music_bed_between_the_words_are_not():
    samples, words = programme_clip()
    frames = speech_frames([samples])[0]
    assert frames.shape == (len(samples) // VAD_FRAME_SAMPLES,)
    times = frame_times(len(frames))
    # TTS utterances begin and end with a little silence of their own: judge their middles
    inside = np.zeros(len(frames), bool)
    for start, end in words:
        inside |= (times > start + 0.3) & (times < end - 0.3)
    outside = np.ones(len(frames), bool)
    for start, end in words:
        outside &= (times < start - 0.3) | (times > end + 0.3)
    assert frames[inside].mean() > 0.9
    assert frames[outside].mean() < 0.1


def test_clips_run_together_give_what_each_gives_alone():
    samples, _ = programme_clip()
    other, _ = read_clip(SPEECH / "train" / "slt" / sorted(p.name for p in (SPEECH / "train" / "slt").iterdir())[0])
    together = speech_frames([samples, other, samples[: len(samples) // 3]])
    alone = [speech_frames([clip])[0] for clip in (samples, other, samples[: len(samples) // 3])]
    for joint, single in zip(together, alone, strict=True):
        assert joint.shape == single.shape
        assert np.mean(joint == single) > 0.97  # a stretch's state is led in, not carried exactly


def test_speech_spans_and_window_shares_follow_the_frames():
    frames = np.zeros(200, bool)
    frames[50:100] = True  # 1.6 s to 3.2 s
    assert speech_spans(frames) == [(50 * FRAME_SECONDS, 100 * FRAME_SECONDS)]
    shares = speech_share(frames, np.array([0.0, 1.6, 2.4]), 1.6)
    np.testing.assert_allclose(shares, [0.0, 1.0, 0.5], atol=0.03)
    front_end = FrontEnd()
    clip = Clip(path=None, samples=np.zeros(int(6.4 * front_end.sample_rate), np.float32), speech=frames)
    shares = clip.speech_share(front_end, front_end.step_frames)
    frame_count = (len(clip.samples) - front_end.n_fft) // front_end.hop_length + 1
    assert len(shares) == (frame_count - front_end.window_frames) // front_end.step_frames + 1
    starts = np.arange(len(shares)) * front_end.step_seconds
    overlap = np.clip(np.minimum(3.2, starts + front_end.window_seconds) - np.maximum(1.6, starts), 0, None)
    np.testing.assert_allclose(shares, overlap / front_end.window_seconds, atol=2 * FRAME_SECONDS)


def test_finding_speech_leaves_torch_on_every_core_it_had():
    """silero_vad's import sets torch to one thread for the whole process; training, which finds the
    speech of its clips first, then ran its steps on one core. A fresh process, so that the import
    happens here."""
    script = ("import numpy as np, torch\n"
              "torch.set_num_threads(3)\n"
              "from speakerspot.speech_activity import speech_frames\n"
              "speech_frames([np.zeros(16000, np.float32)])\n"
              "print(torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "3"


def test_a_clips_background_is_its_sound_away_from_the_speech_found_in_it():
    samples, words = programme_clip()
    rate = VAD_SAMPLE_RATE
    clip = Clip(path=None, samples=samples, speech=speech_frames([samples])[0])
    background = clip.background(rate, margin_seconds=0.25)
    # The silence before, the music bed between the words and the silence after, less the margins
    # (and the TTS utterances' own silences, which the detector rightly leaves to the background).
    pauses = len(samples) / rate - sum(end - start for start, end in words)
    assert pauses - 4 * 0.25 - 0.6 < len(background) / rate <= pauses + 0.6
    assert speech_frames([background])[0].mean() < 0.1  # no word of the target in it
    assert rms(background) > 0.3 * rms(samples[int(words[0][1] * rate):int(words[1][0] * rate)])  # the bed is
    assert len(Clip(path=None, samples=samples).background(rate, 0.25)) == 0  # speech not known: none


def test_a_background_joins_the_stretches_away_from_speech_faded_and_only_long_ones_count():
    frames = np.zeros(200, bool)
    frames[50:100] = True  # speech from 1.6 s to 3.2 s of 6.4 s
    rate = VAD_SAMPLE_RATE
    clip = Clip(path=None, samples=np.ones(int(6.4 * rate), np.float32), speech=frames)
    background = clip.background(rate, margin_seconds=0.25)
    assert len(background) == round((1.6 - 0.25) * rate) + round((6.4 - 3.2 - 0.25) * rate)
    join = round((1.6 - 0.25) * rate)
    assert background[join - 1] < 0.01 and background[join] == 0.0 and background[len(background) // 2] == 1.0
    front_end = FrontEnd(sample_rate=rate)
    assert [len(b) for b in backgrounds([clip], front_end, 0.25)] == [len(background)]
    assert backgrounds([clip], front_end, 2.0) == []  # what is left is shorter than a window


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
    monkeypatch.setattr(speech_activity, "HELD_SECONDS", 15.0)
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
