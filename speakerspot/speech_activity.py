"""Where audio holds speech: Silero VAD (its model ships in its wheel) over 32 ms frames at 16 kHz.

Over whole training clips: clips a user cuts from programmes hold pauses, music, applause and room
tone between the target's words; windows of those must not be trained or remembered as the target.
Over a recording, only at the edges of its segments, with `ScanOptions.speech_edges` (`edge_speech`):
Silero runs at hundreds of times real time, about the decoder's own speed, and over every window it
would slow a scan by half or more.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .segments import hysteresis_mask

VAD_SAMPLE_RATE = 16000
VAD_FRAME_SAMPLES = 512  # what the model takes at 16 kHz: 32 ms
VAD_FRAME_SECONDS = VAD_FRAME_SAMPLES / VAD_SAMPLE_RATE
# The clips, joined end to end, are cut into up to BATCH_ROWS stretches run side by side as the rows
# of one batch: one call of the model on 32 frames costs about what 6 calls on one frame cost
# (measured on 2 cores). Each stretch is led in by the LEAD_IN_FRAMES before it, so that the
# model's state is warm where the stretch starts.
BATCH_ROWS = 32
LEAD_IN_FRAMES = 32
# Silero's own levels: speech starts above 0.5 and lasts while the probability stays above 0.35.
SPEECH_PROBABILITY = 0.5
SPEECH_STAYS_PROBABILITY = 0.35


@functools.lru_cache(maxsize=1)
def vad_model() -> torch.jit.ScriptModule:
    # Importing silero_vad sets torch to one thread for the whole process (its model.py calls
    # `torch.set_num_threads(1)`): every training after its clips' speech was found ran its steps on
    # one of two cores (measured: 1.5 s of CPU in 1.5 s for an epoch's steps).
    threads = torch.get_num_threads()
    try:
        from silero_vad import load_silero_vad

        return load_silero_vad()
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def speech_frames(clips: list[np.ndarray]) -> list[np.ndarray]:
    """Whether each 32 ms frame of each clip (mono, 16 kHz) is speech: one (len // 512,) bool array per clip."""
    lengths = [len(samples) // VAD_FRAME_SAMPLES for samples in clips]
    total = sum(lengths)
    if total == 0:
        return [np.zeros(0, bool) for _ in clips]
    joined = np.concatenate([samples[:n * VAD_FRAME_SAMPLES] for samples, n in zip(clips, lengths, strict=True)])
    frames = joined.reshape(total, VAD_FRAME_SAMPLES)
    per_row = -(-total // BATCH_ROWS)
    starts = range(0, total, per_row)
    rows = np.zeros((len(starts), LEAD_IN_FRAMES + per_row, VAD_FRAME_SAMPLES), np.float32)
    for row, start in enumerate(starts):
        lead_in = min(start, LEAD_IN_FRAMES)
        stretch = frames[start - lead_in:start + per_row]
        rows[row, LEAD_IN_FRAMES - lead_in:LEAD_IN_FRAMES - lead_in + len(stretch)] = stretch
    batch = torch.from_numpy(rows)
    model = vad_model()
    model.reset_states()
    probabilities = torch.stack([model(batch[:, i].contiguous(), VAD_SAMPLE_RATE)[:, 0]
                                 for i in range(batch.shape[1])], dim=1)
    speech = hysteresis_mask(probabilities[:, LEAD_IN_FRAMES:].reshape(-1)[:total].numpy(), SPEECH_PROBABILITY,
                             SPEECH_STAYS_PROBABILITY)
    return np.split(speech, np.cumsum(lengths)[:-1])


def speech_share(frames: np.ndarray, starts: np.ndarray, seconds: float) -> np.ndarray:
    """The share of each span [start, start + seconds) (starts in seconds) that `speech_frames` marks as speech."""
    if len(frames) == 0:
        return np.zeros(len(starts))
    cumulative = np.concatenate([[0], np.cumsum(frames)])
    first = np.clip(np.floor(starts / VAD_FRAME_SECONDS).astype(int), 0, len(frames))
    last = np.clip(np.ceil((starts + seconds) / VAD_FRAME_SECONDS).astype(int), 0, len(frames))
    return (cumulative[last] - cumulative[first]) / np.maximum(last - first, 1)


def true_runs(mask: np.ndarray) -> np.ndarray:
    """The runs of True in a boolean `mask`, as (start, end) index pairs (end exclusive): (runs, 2)."""
    return np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8))).reshape(-1, 2)


def speech_spans(frames: np.ndarray) -> list[tuple[float, float]]:
    """The runs of speech frames of `speech_frames`, as (start, end) seconds from the clip's start."""
    return [(float(start * VAD_FRAME_SECONDS), float(end * VAD_FRAME_SECONDS)) for start, end in true_runs(frames)]


@torch.inference_mode()
def clips_speech_frames(clips: np.ndarray) -> np.ndarray:
    """Whether each 32 ms frame of each of `clips` ((n, samples), mono, 16 kHz), heard from its start,
    is speech: (n, samples // 512) bool. The clips are the rows of one batch."""
    count = clips.shape[1] // VAD_FRAME_SAMPLES
    frames = torch.from_numpy(np.ascontiguousarray(clips[:, :count * VAD_FRAME_SAMPLES])).reshape(len(clips), count, -1)
    model = vad_model()
    model.reset_states()
    # Without TorchScript's profiling runs: they cost a scan's first call 0.1 s more (measured), the rest as fast.
    with torch.jit.optimized_execution(False):
        probabilities = torch.stack([model(frames[:, i].contiguous(), VAD_SAMPLE_RATE)[:, 0] for i in range(count)],
                                    dim=1).numpy()
    return np.array([hysteresis_mask(row, SPEECH_PROBABILITY, SPEECH_STAYS_PROBABILITY) for row in probabilities],
                    bool).reshape(len(clips), count)
