"""Training audio: FFT sizes, and signals that do not depend on how many threads made them."""

from __future__ import annotations

from functools import partial

import numpy as np
from conftest import SPEECH, read_clip

from speakerspot import threads
from speakerspot.augment import BroadcastChain, draw_signals, fft_length, non_speech


def smallest_5_smooth_at_or_above(length: int) -> int:
    candidate = length
    while True:
        rest = candidate
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return candidate
        candidate += 1


def test_fft_lengths_are_the_smallest_products_of_2_3_and_5_at_or_above_the_signal():
    for length in [*range(1, 1200), 88_200, 176_401, 262_145]:
        assert fft_length(length) == smallest_5_smooth_at_or_above(length), length


def test_signals_drawn_in_threads_are_those_drawn_one_by_one(monkeypatch):
    speech, rate = read_clip(sorted((SPEECH / "train" / "rms").iterdir())[0])
    chain = BroadcastChain(rate, np.random.default_rng(0))
    makers = [partial(chain, speech)] * 4 + [partial(non_speech, 2 * rate, rate)] * 4
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    in_threads = draw_signals(makers, np.random.default_rng(1))
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    one_by_one = draw_signals(makers, np.random.default_rng(1))
    assert [len(s) for s in in_threads] == [len(speech)] * 4 + [2 * rate] * 4
    for threaded, single in zip(in_threads, one_by_one, strict=True):
        np.testing.assert_array_equal(threaded, single)
    assert not np.array_equal(in_threads[0], in_threads[1])  # each maker its own generator
