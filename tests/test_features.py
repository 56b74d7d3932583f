"""The front end against librosa, an independent implementation of the same formulas."""

from __future__ import annotations

import librosa
import numpy as np
import torch
from conftest import SPEECH, read_clip

from speakerspot.audio import AudioChunk
from speakerspot.features import FrontEnd, clip_windows, log_mel_spectrogram, mel_filters, stream_windows

FRONT_END = FrontEnd()


def speech_at_22050() -> np.ndarray:
    samples, rate = read_clip(SPEECH / "train" / "rms" / "00.ogg")
    return librosa.resample(samples, orig_sr=rate, target_sr=FRONT_END.sample_rate).astype(np.float32)


def test_mel_filterbank_matches_librosa_htk():
    reference = librosa.filters.mel(sr=FRONT_END.sample_rate, n_fft=FRONT_END.n_fft, n_mels=FRONT_END.n_mels,
                                    fmin=FRONT_END.f_min, fmax=FRONT_END.f_max, htk=True, norm=None)
    ours = mel_filters(FRONT_END).numpy()
    assert ours.shape == (128, 1025)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_log_mel_spectrogram_matches_librosa_on_speech():
    # In float64, so that the comparison is of the formulas, not of two float32 FFTs' rounding.
    samples = speech_at_22050().astype(np.float64)
    reference = librosa.feature.melspectrogram(
        y=samples, sr=FRONT_END.sample_rate, n_fft=FRONT_END.n_fft, hop_length=FRONT_END.hop_length,
        window="hann", center=False, power=2.0, n_mels=FRONT_END.n_mels, fmin=FRONT_END.f_min,
        fmax=FRONT_END.f_max, htk=True, norm=None)
    ours = log_mel_spectrogram(torch.from_numpy(samples), FRONT_END).numpy().T
    assert ours.dtype == np.float64 and ours.shape == reference.shape
    loud = reference > reference.max() * 1e-6  # compare where the log is not dominated by the floor
    np.testing.assert_allclose(ours[loud], np.log(reference[loud]), atol=1e-5)


def test_log_mel_spectrogram_in_float32_is_within_rounding_of_float64():
    # Bins 60 dB under the loudest carry the FFT's float32 rounding of the whole frame: a few 1e-3 on some CPUs.
    samples = torch.from_numpy(speech_at_22050())
    exact = log_mel_spectrogram(samples.double(), FRONT_END)
    ours = log_mel_spectrogram(samples, FRONT_END)
    assert ours.dtype == torch.float32
    loud = exact > exact.max() + np.log(1e-6)
    torch.testing.assert_close(ours[loud], exact[loud].float(), atol=2e-2, rtol=0)


def test_frames_are_about_22_per_second_and_windows_about_2_seconds():
    assert 21.5 < 1 / FRONT_END.frame_seconds < 22.5
    assert 1.9 < FRONT_END.window_seconds < 2.1
    assert 0.45 < FRONT_END.step_seconds < 0.55
    windows = clip_windows(np.zeros(FRONT_END.sample_rate * 10, np.float32), FRONT_END)
    assert windows.shape[1:] == (128, 44)
    assert windows.shape[0] == 1 + (1 + (FRONT_END.sample_rate * 10 - 2048) // 1000 - 44) // 11


def test_streaming_in_chunks_gives_the_same_windows_as_the_whole_signal():
    samples = np.tile(speech_at_22050(), 4)
    whole = clip_windows(samples, FRONT_END)
    pieces = [AudioChunk(offset / FRONT_END.sample_rate, samples[offset:offset + 7777])
              for offset in range(0, len(samples), 7777)]
    batches = list(stream_windows(pieces, FRONT_END))
    streamed = torch.cat([b.mels for b in batches])
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, atol=1e-3, rtol=1e-4)
    centres = np.concatenate([b.centres for b in batches])
    np.testing.assert_allclose(np.diff(centres), FRONT_END.step_seconds, atol=1e-9)
    assert abs(centres[0] - FRONT_END.window_seconds / 2) < 1e-9


def test_a_gap_between_chunks_restarts_the_window_grid_at_the_new_time():
    samples = speech_at_22050()
    batches = list(stream_windows([AudioChunk(0.0, samples), AudioChunk(100.0, samples)], FRONT_END))
    centres = np.concatenate([b.centres for b in batches])
    after_gap = centres[centres > 50]
    assert abs(after_gap[0] - (100.0 + FRONT_END.window_seconds / 2)) < 1e-9


def test_a_window_without_sound_is_marked_silent_and_a_quiet_sound_is_not():
    rate = FRONT_END.sample_rate
    time = np.arange(6 * rate) / rate
    quiet = (10 ** (-60 / 20) * np.sin(2 * np.pi * 440 * time)).astype(np.float32)  # a -60 dBFS tone
    signal = np.concatenate([np.zeros(6 * rate, np.float32), quiet, np.zeros(6 * rate, np.float32)])
    batches = list(stream_windows([AudioChunk(0.0, signal)], FRONT_END))
    centres = np.concatenate([b.centres for b in batches])
    activity = np.concatenate([b.activity for b in batches])
    half = FRONT_END.window_seconds / 2
    silent = (centres + half < 6) | (centres - half > 12)
    sounding = (centres - half > 6) & (centres + half < 12)
    assert silent.sum() > 5 and sounding.sum() > 5
    assert np.all(np.isneginf(activity[silent]))
    np.testing.assert_allclose(activity[sounding], 0.0, atol=0.5)  # a steady tone: its centre is its loudest
