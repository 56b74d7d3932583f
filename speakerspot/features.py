"""Log-mel spectrograms in plain torch, and cutting them into fixed-length windows.

The spectrogram is computed once over a stretch of audio and sliced into overlapping windows
(`unfold`), never recomputed per window. Streaming keeps the frame grid continuous across chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .audio import DEFAULT_SAMPLE_RATE, AudioChunk


@dataclass(frozen=True)
class FrontEnd:
    """Every setting that turns audio into encoder input; stored in the model file.

    The mel range stops at 7.6 kHz: training clips come at 16 kHz and more, broadcasts pass
    everything through one chain, and a model must not learn the recording chain's bandwidth.
    """

    sample_rate: int = DEFAULT_SAMPLE_RATE
    n_fft: int = 2048
    hop_length: int = 1000  # ~22 frames per second
    n_mels: int = 128
    f_min: float = 60.0
    f_max: float = 7600.0
    window_frames: int = 44  # ~2 s
    step_frames: int = 11  # ~0.5 s
    # A window whose loudest frame is quieter than this (dB below a full-scale sine) holds no sound: no
    # voice is that quiet in a broadcast, and with each band's mean removed (see `SpeakerEncoder`), the
    # encoder sees the last bits of digital silence as it sees any sound (real-1998's opening seconds at
    # -100 dBFS scored as the target: BENCHMARKS.md, 2026-12-04, fifteenth session).
    silence_dbfs: float = -70.0

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def step_seconds(self) -> float:
        return self.step_frames * self.frame_seconds

    @property
    def window_seconds(self) -> float:
        """Span of audio one window sees, first sample to last."""
        return ((self.window_frames - 1) * self.hop_length + self.n_fft) / self.sample_rate

    @property
    def min_samples(self) -> int:
        """Samples needed for one window."""
        return (self.window_frames - 1) * self.hop_length + self.n_fft

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WindowBatch:
    """`mels` (n, n_mels, window_frames) log-mel windows; `centres` (n,) their centre times, seconds;
    `activity` (n,) the loudest frame of each window's central step relative to its loudest frame, dB
    (-inf: the window holds no sound; see `centre_activity`); `samples` the audio they were computed
    from, from the first window's first sample to the last window's last (window i starts `i *
    step_frames * hop_length` samples in), if asked for (see `stream_windows`)."""

    centres: np.ndarray
    mels: torch.Tensor
    activity: np.ndarray
    samples: np.ndarray


def hz_to_mel(frequency: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + frequency / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)
def mel_filters(front_end: FrontEnd, device: str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, unnormalised: (n_mels, n_fft // 2 + 1)."""
    fft_frequencies = torch.linspace(0, front_end.sample_rate / 2, front_end.n_fft // 2 + 1, dtype=torch.float64)
    mel_edges = torch.linspace(hz_to_mel(torch.tensor(front_end.f_min, dtype=torch.float64)),
                               hz_to_mel(torch.tensor(front_end.f_max, dtype=torch.float64)),
                               front_end.n_mels + 2, dtype=torch.float64)
    hz_edges = mel_to_hz(mel_edges)
    lower, centre, upper = hz_edges[:-2, None], hz_edges[1:-1, None], hz_edges[2:, None]
    rising = (fft_frequencies - lower) / (centre - lower)
    falling = (upper - fft_frequencies) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=8)
def covered_filters(front_end: FrontEnd, device: str = "cpu",
                    dtype: torch.dtype = torch.float32) -> tuple[int, int, torch.Tensor]:
    """The FFT bins [first, stop) where some mel filter is not zero, and the filters on those bins."""
    filters = mel_filters(front_end, device, dtype)
    covered = torch.nonzero(filters.sum(dim=0))[:, 0]
    first, stop = int(covered[0]), int(covered[-1]) + 1
    return first, stop, filters[:, first:stop].contiguous()


@functools.lru_cache(maxsize=8)
def hann_window(n_fft: int, device: str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.hann_window(n_fft, device=device, dtype=dtype)


def log_mel_spectrogram(samples: torch.Tensor, front_end: FrontEnd) -> torch.Tensor:
    """Natural-log mel power spectrogram of mono `samples` (n,): (frames, n_mels), in their dtype.

    Frame i covers samples [i * hop, i * hop + n_fft) (no padding), so chunks can be joined.
    """
    device = str(samples.device)
    if samples.shape[-1] < front_end.n_fft:
        return torch.zeros(0, front_end.n_mels, device=samples.device, dtype=samples.dtype)
    window = hann_window(front_end.n_fft, device, samples.dtype)
    spectrum = torch.stft(samples, front_end.n_fft, front_end.hop_length, window=window, center=False,
                          return_complex=True)
    # Only the bins the filters cover (60 Hz-7.6 kHz: 700 of 1025): a third less work, the same sums.
    first, stop, filters = covered_filters(front_end, device, samples.dtype)
    spectrum = spectrum[first:stop]
    power = spectrum.real.square() + spectrum.imag.square()
    mel = filters @ power
    return torch.log(mel.clamp_min(1e-8)).T


def cut_windows(frames: torch.Tensor, window_frames: int, step_frames: int) -> torch.Tensor:
    """Overlapping windows of a (frames, n_mels) spectrogram: (n, n_mels, window_frames), a view."""
    if frames.shape[0] < window_frames:
        return frames.new_zeros(0, frames.shape[1], window_frames)
    return frames.unfold(0, window_frames, step_frames)


def frame_decibels(frames: torch.Tensor, dim: int) -> torch.Tensor:
    """Power of log-mel frames (bands along `dim`), dB of the sum over the bands."""
    return torch.logsumexp(frames, dim=dim) * (10 / np.log(10))


@functools.lru_cache(maxsize=8)
def full_scale_decibels(front_end: FrontEnd) -> float:
    """`frame_decibels` of a full-scale 1 kHz sine: the level `FrontEnd.silence_dbfs` is relative to."""
    time = torch.arange(front_end.n_fft, dtype=torch.float64) / front_end.sample_rate
    frame = log_mel_spectrogram(torch.sin(2 * np.pi * 1000.0 * time), front_end)
    return float(frame_decibels(frame, dim=1)[0])


def centre_activity(windows: torch.Tensor, front_end: FrontEnd) -> np.ndarray:
    """Level (dB, at most 0) of the loudest frame in each window's central step, relative to the
    window's loudest frame: very negative where the window's centre is silence, and -inf where the
    whole window is (its loudest frame below `front_end.silence_dbfs`)."""
    decibels = frame_decibels(windows, dim=1)  # (n, window_frames)
    middle, step = windows.shape[-1] // 2, front_end.step_frames
    centre = decibels[:, middle - step // 2:middle + (step + 1) // 2]
    loudest = decibels.amax(dim=1)
    relative = (centre.amax(dim=1) - loudest).cpu().numpy()
    silent = (loudest < full_scale_decibels(front_end) + front_end.silence_dbfs).cpu().numpy()
    return np.where(silent, -np.inf, relative)


def clip_windows(samples: np.ndarray, front_end: FrontEnd, step_frames: int | None = None,
                 device: str = "cpu") -> torch.Tensor:
    """All windows of a short clip held in memory: (n, n_mels, window_frames)."""
    frames = log_mel_spectrogram(torch.from_numpy(samples).to(device), front_end)
    return cut_windows(frames, front_end.window_frames, step_frames or front_end.step_frames)


# Signals laid end to end for one spectrogram: about a minute at a time bounds the STFT's memory.
JOINED_SAMPLES = 1 << 20


def signals_windows(signals: list[np.ndarray], front_end: FrontEnd, step_frames: int | None = None,
                    device: str = "cpu") -> list[torch.Tensor]:
    """`clip_windows` of each signal, computed in a few spectrograms of signals laid end to end.

    Each signal starts on the hop grid of the joined samples, so its frames are exactly the frames
    it has alone; frames that reach into the next signal are not used. Many short spectrograms cost
    more than a few long ones, and this computes them in the calling thread.
    """
    hop, step = front_end.hop_length, step_frames or front_end.step_frames
    results: list[torch.Tensor] = []
    group: list[np.ndarray] = []

    def flush() -> None:
        padded = [np.pad(s, (0, -len(s) % hop)) for s in group]
        frames = log_mel_spectrogram(torch.from_numpy(np.concatenate(padded)).to(device), front_end)
        first = 0
        for signal, room in zip(group, padded, strict=True):
            count = max(0, (len(signal) - front_end.n_fft) // hop + 1)
            results.append(cut_windows(frames[first:first + count], front_end.window_frames, step))
            first += len(room) // hop
        group.clear()

    for signal in signals:
        group.append(np.asarray(signal, np.float32))
        if sum(map(len, group)) >= JOINED_SAMPLES:
            flush()
    if group:
        flush()
    return results


def stream_windows(chunks: Iterable[AudioChunk], front_end: FrontEnd, device: str = "cpu",
                   with_samples: bool = False) -> Iterator[WindowBatch]:
    """Windows of a stream of timed chunks, with bounded memory; `with_samples`, each batch with its
    audio (else `WindowBatch.samples` is empty: a scan that kept it for nothing took 3-4% longer and 9 MB
    more, measured).

    The frame grid runs on across chunks; where a chunk does not start where the last one ended
    (a gap in the audio), the grid restarts at the new chunk so every window keeps its true time.
    """
    hop, step = front_end.hop_length, front_end.step_frames
    half_window = front_end.window_seconds / 2
    run_start = 0.0  # time of sample 0 of the current run
    run_samples = 0  # samples of the run received so far
    pending = np.zeros(0, np.float32)  # samples not yet turned into frames
    frames = torch.zeros(0, front_end.n_mels, device=device)  # frames not yet fully consumed by windows
    first_kept_frame = 0  # run frame index of frames[0]
    kept = np.zeros(0, np.float32)  # the samples from the first sample of frames[0] on
    for chunk in chunks:
        expected = run_start + run_samples / front_end.sample_rate
        if abs(chunk.start - expected) > 0.5 / front_end.sample_rate * hop or run_samples == 0:
            run_start, run_samples, first_kept_frame = chunk.start, 0, 0
            pending = kept = np.zeros(0, np.float32)
            frames = frames[:0]
        run_samples += len(chunk.samples)
        pending = np.concatenate([pending, chunk.samples])
        kept = np.concatenate([kept, chunk.samples]) if with_samples else kept
        new_frames = log_mel_spectrogram(torch.from_numpy(pending).to(device), front_end)
        pending = pending[new_frames.shape[0] * hop:]
        frames = torch.cat([frames, new_frames])
        windows = cut_windows(frames, front_end.window_frames, step)
        if windows.shape[0] == 0:
            continue
        window_starts = (first_kept_frame + np.arange(windows.shape[0]) * step) * hop / front_end.sample_rate
        spanned = (windows.shape[0] - 1) * step * hop + front_end.min_samples
        yield WindowBatch(centres=run_start + window_starts + half_window, mels=windows,
                          activity=centre_activity(windows, front_end), samples=kept[:spanned])
        consumed = windows.shape[0] * step
        frames = frames[consumed:]
        kept = kept[consumed * hop:]
        first_kept_frame += consumed
