"""Each epoch's training windows: the clips through fresh broadcast-like chains, and the other sounds
that train as negatives (see `WindowSampler`); calibration renders held-back and banked clips alike."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from .augment import BroadcastChain, SignalMaker, change_speed, draw_signals, non_speech
from .clips import Clip, backgrounds
from .config import TrainingConfig
from .features import FrontEnd, signals_windows


class WindowSampler:
    """Builds each epoch's training windows from clips put through fresh broadcast chains.

    Positive windows are those mostly of speech (`min_speech_share`). The sound of the positive clips
    away from their speech (pauses, music, applause, the room: see `Clip.background`) trains as a
    negative, so that the sound of the target's sessions is not learnt as the target.
    """

    def __init__(self, positives: list[Clip], negatives: list[Clip], front_end: FrontEnd,
                 config: TrainingConfig, device: str, rng: np.random.Generator):
        self.positives, self.negatives = positives, negatives
        self.front_end, self.config, self.device = front_end, config, device
        self.chain = BroadcastChain(front_end.sample_rate, rng, tuple(clip.samples for clip in negatives), config.chain)
        self.speech_masks = [clip.speech_windows(front_end, config.train_step_frames, config.min_speech_share)
                             for clip in positives]
        # Each positive clip's background (see `Clip.background`; none where shorter than a window).
        self.backgrounds_of = [backgrounds([clip], front_end, config.background_margin) for clip in positives]

    @property
    def backgrounds(self) -> list[np.ndarray]:
        """The backgrounds of all the positive clips."""
        return [background for found in self.backgrounds_of for background in found]

    def signal_windows(self, signals: list[np.ndarray], step_frames: int) -> list[torch.Tensor]:
        return signals_windows(signals, self.front_end, step_frames, self.device)

    def windows(self, signals: list[np.ndarray], step_frames: int) -> torch.Tensor:
        return self.joined(self.signal_windows(signals, step_frames))

    def joined(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        pieces = [p for p in pieces if p.shape[0]]
        if not pieces:
            return torch.zeros(0, self.front_end.n_mels, self.front_end.window_frames, device=self.device)
        return torch.cat(pieces)

    def negative_makers(self, chosen: list[int], rng: np.random.Generator) -> list[SignalMaker]:
        """What makes an epoch's negative signals, with the backgrounds of the epoch's positive clips
        (numbered in `chosen`) and the clips sped up or slowed down."""
        rate = self.front_end.sample_rate
        negatives = [self.negatives[i] for i in draw_for_epoch(self.negatives, self.config.negative_seconds_per_epoch,
                                                                rate, rng)]
        epoch_backgrounds = [background for i in chosen for background in self.backgrounds_of[i]]
        makers = [partial(self.chain, samples) for samples in [c.samples for c in negatives] + epoch_backgrounds]
        seconds = self.config.non_speech_ratio * sum(len(c.samples) for c in negatives) / rate
        makers += [partial(non_speech, self.config.non_speech_samples(rate), rate)] * int(
            seconds / self.config.non_speech_seconds)
        if self.config.speed_shifted_negatives:
            makers += [partial(self.speed_shifted, self.positives[i].samples) for i in chosen]
        return makers

    def speed_shifted(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factor = rng.choice([-1, 1]) * rng.uniform(*self.config.speed_shift) + 1
        return self.chain(change_speed(samples, factor), rng)

    def epoch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(positive windows, negative windows) for one epoch."""
        step = self.config.train_step_frames
        chosen = draw_for_epoch(self.positives, self.config.positive_seconds_per_epoch, self.front_end.sample_rate, rng)
        signals = draw_signals([partial(self.chain, self.positives[i].samples) for i in chosen], rng)
        chained = self.signal_windows(signals, step)
        speech = [windows[self.speech_masks[i].to(windows.device)] for windows, i in zip(chained, chosen, strict=True)]
        return self.joined(speech), self.windows(draw_signals(self.negative_makers(chosen, rng), rng), step)


def draw_for_epoch(clips: list[Clip], seconds: float, sample_rate: int, rng: np.random.Generator) -> list[int]:
    """Which of `clips` an epoch renders: all of them, or, where they last longer than `seconds`, clips
    drawn at random up to that length (another draw each epoch; nothing is drawn from `rng` under it).

    An epoch's rendering, mining and windows grow with its clips, while its steps draw some 7,700
    candidate negatives and 1,900 target windows. 34 minutes of negatives trained in 179 s at a peak of
    2.3 GB, 20 minutes of positives in 186 s at 2.3 GB, where the dev set's 4 and 8 take about 100 s
    (BENCHMARKS.md, 2026-12-04, tenth session)."""
    if sum(len(clip.samples) for clip in clips) <= seconds * sample_rate:
        return list(range(len(clips)))
    order = rng.permutation(len(clips))
    lengths = np.cumsum([len(clips[i].samples) for i in order])
    count = max(1, int(np.searchsorted(lengths, seconds * sample_rate, side="right")))
    return sorted(order[:count].tolist())
