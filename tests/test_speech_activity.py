"""Speech activity in training clips: speech found, pauses and music beds between the words not."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import SPEECH, programme_clip, read_clip

from speakerspot.augment import rms
from speakerspot.clips import Clip, backgrounds
from speakerspot.features import FrontEnd
from speakerspot.speech_activity import VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE, speech_frames, speech_share, speech_spans

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
