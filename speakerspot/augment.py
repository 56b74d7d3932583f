"""Broadcast-like corruption of training audio, and non-speech sounds to train against.

A model trained on clean clips learns the recording chain as much as the voice. Each epoch every
clip goes through a freshly drawn chain (band limits, EQ tilt, reverberation, noise, a music bed,
gain), and the negatives include sounds a broadcast carries besides voices: silence, hum, noise,
tones, music-like beds, jingles. All signals are mono float32 at one sample rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np
import torch

from .config import ChainConfig
from .threads import map_in_threads

SignalMaker = Callable[[np.random.Generator], np.ndarray]


def draw_signals(makers: list[SignalMaker], rng: np.random.Generator) -> list[np.ndarray]:
    """The signals `makers` make, each from a generator of its own seeded from `rng`, so that they do
    not depend on which thread runs first (see `threads.map_in_threads`)."""
    seeds = rng.integers(2**63, size=len(makers))
    return map_in_threads(lambda job: job[0](np.random.default_rng(job[1])), list(zip(makers, seeds, strict=True)))


def db_to_gain(decibels: float) -> float:
    return 10.0 ** (decibels / 20.0)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)) + 1e-12))


def fft_length(length: int) -> int:
    """The smallest 2**a * 3**b * 5**c at or above `length`: an FFT of a length with a large prime factor
    can be 100x slower, and a power of two pads by up to 100%. With numpy's float32 FFT, such lengths
    took 0.45x the time of torch's at powers of two (measured on clip lengths of 3-11 s)."""
    best = 1 << max(0, length - 1).bit_length()
    power_of_five = 1
    while power_of_five < best:
        odd = power_of_five
        while odd < best:
            candidate = odd << max(0, math.ceil(math.log2(length / odd)))
            best = min(best, candidate)
            odd *= 3
        power_of_five *= 5
    return best


def spectrum_of(signal: np.ndarray, size: int) -> np.ndarray:
    """The real FFT of `signal` zero-padded to `size`, in float32 (complex64)."""
    return np.fft.rfft(np.asarray(signal, np.float32), size)


def signal_of(spectrum: np.ndarray, size: int, length: int) -> np.ndarray:
    """The first `length` samples of the signal of a `spectrum_of` of that `size`."""
    return np.fft.irfft(spectrum, size)[:length]


@lru_cache(maxsize=64)
def octaves_from_1khz(size: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, log2(frequency / 1 kHz)) of the bins of a `spectrum_of` of that `size`, float32."""
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate).astype(np.float32)
    octaves = np.log2(np.maximum(frequencies, 20.0) / 1000.0)
    frequencies.flags.writeable = octaves.flags.writeable = False  # shared by every call
    return frequencies, octaves


def coloured_noise(length: int, rng: np.random.Generator, exponent: float | None = None) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    exponent = rng.uniform(0.0, 2.0) if exponent is None else exponent
    size = fft_length(length)
    spectrum = spectrum_of(rng.standard_normal(size, np.float32), size)
    frequencies = np.maximum(np.arange(len(spectrum), dtype=np.float32), 1.0)
    noise = signal_of(spectrum / frequencies ** (exponent / 2), size, length)
    return (noise / rms(noise)).astype(np.float32)


def music_bed(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic music-like signal: chords of harmonic notes with envelopes, and percussion. Unit RMS.

    Each partial starts at a random phase, so it can be computed on the note's own time axis, where
    phases stay small enough for float32: 3x faster than on the signal's time axis in float64 (measured).
    """
    signal = np.zeros(length, np.float32)
    note_seconds = rng.uniform(0.15, 0.8)
    note_length = max(1, int(note_seconds * sample_rate))
    note_time = np.arange(note_length, dtype=np.float32) / np.float32(sample_rate)
    root = rng.uniform(45, 70)  # MIDI note numbers
    for start in range(0, length, note_length):
        stop = min(length, start + note_length)
        time = note_time[:stop - start]
        envelope = np.exp(time * np.float32(-rng.uniform(1, 8)))
        for interval in rng.choice([0, 3, 4, 7, 10, 12, 16, 19], size=rng.integers(1, 4), replace=False):
            frequency = 440.0 * 2 ** ((root + interval + rng.choice([-5, 0, 2, 5, 7]) - 69) / 12)
            harmonics = rng.integers(1, 8)
            for harmonic in range(1, harmonics + 1):
                if frequency * harmonic < sample_rate / 2:
                    phase = rng.uniform(0, 2 * np.pi)
                    partial = np.sin(np.float32(2 * np.pi * frequency * harmonic) * time + np.float32(phase))
                    signal[start:stop] += envelope * partial / np.float32(harmonic)
    if rng.random() < 0.6:  # drums: decaying noise bursts on a beat
        beat = int(rng.uniform(0.25, 0.6) * sample_rate)
        burst_length = min(beat, length)
        decay = np.exp(-np.arange(burst_length) / sample_rate * rng.uniform(15, 40))
        burst = coloured_noise(burst_length, rng) * decay
        for start in range(0, length, beat):
            stop = min(length, start + len(burst))
            signal[start:stop] += burst[:stop - start] * rng.uniform(0.3, 1.5)
    return (signal / rms(signal)).astype(np.float32)


def non_speech(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One of the sounds a broadcast carries besides voices, at a random level."""
    kind = rng.integers(6)
    time = np.arange(length) / sample_rate
    if kind == 0:  # pauses: near or full digital silence, kept far below speech level
        signal = coloured_noise(length, rng)
        return (signal / rms(signal) * db_to_gain(rng.uniform(-100, -50))).astype(np.float32)
    if kind == 1:  # noise: hiss, rumble, crowd-like
        signal = coloured_noise(length, rng)
    elif kind == 2:  # steady or swept tones, hum
        base = rng.uniform(50, 3000)
        sweep = base * (1 + rng.uniform(-0.5, 0.5) * time / max(time[-1], 1e-3))
        signal = np.sin(2 * np.pi * np.cumsum(sweep) / sample_rate) + 0.2 * coloured_noise(length, rng)
    else:  # music, jingles, music with noise
        signal = music_bed(length, sample_rate, rng)
        if kind == 5:
            signal = signal + coloured_noise(length, rng) * db_to_gain(rng.uniform(-30, -10))
    return (signal / rms(signal) * db_to_gain(rng.uniform(-30, -10))).astype(np.float32)


def filter_spectrum(samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random recording chain's frequency response: band limits and an EQ tilt with a bump."""
    size = fft_length(len(samples))
    frequencies, octaves = octaves_from_1khz(size, sample_rate)
    gain_db = rng.uniform(-4, 4) * octaves  # tilt, dB per octave around 1 kHz
    centre = rng.uniform(-2, 2.5)  # a broad peak or dip somewhere between 250 Hz and 5.6 kHz
    bump = np.exp(-0.5 * ((octaves - centre) / rng.uniform(0.3, 1.2)) ** 2)
    gain_db += rng.uniform(-8, 8) * bump
    if rng.random() < 0.5:  # telephone band: a phone codec leaves nothing above its 4 kHz Nyquist limit
        low, high, order = rng.uniform(250, 400), rng.uniform(3000, 3600), 32
    else:
        low, high, order = rng.uniform(20, 200), rng.uniform(4000, sample_rate / 2), 8
    response = 10.0 ** (gain_db / 20)
    response /= (1 + (low / np.maximum(frequencies, 1.0)) ** 4) * (1 + (frequencies / high) ** order)
    return signal_of(spectrum_of(samples, size) * response, size, len(samples))


def reverberate(samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room: a direct path and exponentially decaying noise."""
    rt60 = rng.uniform(0.15, 0.9)
    length = int(rt60 * sample_rate)
    decay = np.exp(-6.9 * np.arange(length) / length)
    response = rng.standard_normal(length) * decay * db_to_gain(rng.uniform(-25, -10))
    response[0] = 1.0
    size = fft_length(len(samples) + length - 1)
    wet = signal_of(spectrum_of(samples, size) * spectrum_of(response, size), size, len(samples))
    return (wet * rms(samples) / rms(wet)).astype(np.float32)


class BroadcastChain:
    """Draws a fresh broadcast-like chain for each signal it is applied to.

    Music beds and noises are generated once into pools and excerpted, so that applying a chain
    costs a few FFTs. `voices` are other speakers' signals that may be mixed in quietly underneath.
    """

    def __init__(self, sample_rate: int, rng: np.random.Generator, voices: tuple[np.ndarray, ...] = (),
                 config: ChainConfig = ChainConfig()):
        self.sample_rate, self.config = sample_rate, config
        length = int(config.pool_seconds * sample_rate)
        self.music = draw_signals([partial(music_bed, length, sample_rate)] * config.pool_size, rng)
        self.noises = draw_signals([partial(coloured_noise, length)] * config.pool_size, rng)
        self.voices = voices

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal, config = samples, self.config
        if rng.random() < config.reverb:
            signal = reverberate(signal, self.sample_rate, rng)
        if rng.random() < config.filter:
            signal = filter_spectrum(signal, self.sample_rate, rng)
        level = rms(signal)
        if rng.random() < config.music:
            signal = signal + excerpt(self.music, len(signal), rng) * level * db_to_gain(-rng.uniform(6, 25))
        if rng.random() < config.noise:
            signal = signal + excerpt(self.noises, len(signal), rng) * level * db_to_gain(-rng.uniform(10, 40))
        if self.voices and rng.random() < config.voice:
            signal = signal + excerpt(self.voices, len(signal), rng) * level * db_to_gain(-rng.uniform(12, 25))
        peak = np.max(np.abs(signal)) + 1e-9
        return (signal * db_to_gain(rng.uniform(-30, 0)) / peak * 0.9).astype(np.float32)


def excerpt(pool: list[np.ndarray] | tuple[np.ndarray, ...], length: int, rng: np.random.Generator) -> np.ndarray:
    """`length` samples from a random signal of `pool` at a random offset, looped if too short; unit RMS."""
    source = pool[rng.integers(len(pool))]
    offset = rng.integers(len(source))
    piece = np.resize(np.roll(source, -offset), length)
    return piece / rms(piece)


def change_speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play `samples` `factor` times faster (pitch and formants move with it) by linear interpolation."""
    positions = np.arange(0, len(samples) - 1, factor)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def mask_spectra(windows: torch.Tensor, rng: np.random.Generator, max_bands: int, max_frames: int) -> torch.Tensor:
    """SpecAugment: each window loses a random run of 0 to `max_bands` mel bands and one of 0 to
    `max_frames` frames, set to the band's mean over the window (what the encoder subtracts first, so
    they carry nothing). A voice must then be known by more than one band or one moment: on the dev
    broadcast, ten seeds found every turn on 8 (2 without) at a lower window EER (BENCHMARKS.md)."""
    count, bands, frames = windows.shape
    band_width = rng.integers(0, max_bands + 1, count)
    band_start = rng.integers(0, bands - band_width + 1)
    frame_width = rng.integers(0, max_frames + 1, count)
    frame_start = rng.integers(0, frames - frame_width + 1)

    def inside(positions: torch.Tensor, start: np.ndarray, width: np.ndarray) -> torch.Tensor:
        return ((positions >= torch.from_numpy(start)[:, None])
                & (positions < torch.from_numpy(start + width)[:, None]))

    masked = (inside(torch.arange(bands), band_start, band_width)[:, :, None]
              | inside(torch.arange(frames), frame_start, frame_width)[:, None, :])
    return torch.where(masked.to(windows.device), windows.mean(dim=-1, keepdim=True), windows)
