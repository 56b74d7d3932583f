"""How a model scores its target's unheard utterances as recorded and through other channels.

    python benchmarks/channel_bias.py --set benchmarks/cache/sets/real-3005-sessions --models DIR [--seeds 0 1]

For a set built by `make_real_sets.py` (the target's training clips from one session, its broadcast
turns from utterances training never heard), each of those utterances is scored by the models
`DIR/<set>.seed<N>.pt` (as `benchmarks/accuracy.py --cache DIR` writes them) as recorded, through
an equaliser (+9 dB below 500 Hz and above 3 kHz), a telephone line and two rooms, each at the
broadcast's level. Printed: each channel's median window score (the model's own scoring: bank less
others), averaged over the utterances, beside the model's entry level. A model that knows the voice
scores it alike on every channel; one that learnt its training session scores the target higher
the more it sounds like that session.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from make_real_sets import RATE, level, room, spectrum_filter, telephone

import speakerspot
from speakerspot.audio import load_audio
from speakerspot.features import clip_windows

CHANNELS = {
    "as recorded": lambda samples: samples,
    "EQ": lambda samples: spectrum_filter(samples, lambda f: 10 ** ((9 * (f < 500) + 9 * (f > 3000)) / 20)),
    "telephone": lambda samples: telephone(samples, np.random.default_rng(0)),
    "room 0.3 s": lambda samples: room(samples, np.random.default_rng(1), 0.3),
    "room 0.7 s": lambda samples: room(samples, np.random.default_rng(1), 0.7),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--speech", type=Path, default=Path("../shared/real-speech"))
    arguments = parser.parse_args()
    events = json.loads((arguments.set / "test" / "events.json").read_text())
    utterances = [load_audio(arguments.speech / event["source"], RATE) for event in events if event["target"]]
    print(f"{arguments.set.name}: {len(utterances)} utterances; median window score per channel")
    print(" | ".join(["seed", "entry", *CHANNELS]))
    heard: dict[int, list[list[np.ndarray]]] = {}  # sample rate: each utterance through each channel, made once
    for seed in arguments.seeds:
        model = speakerspot.load_model(arguments.models / f"{arguments.set.name}.seed{seed}.pt")
        rate = model.front_end.sample_rate
        if rate not in heard:
            heard[rate] = [[heard_at(channel(samples), rate) for channel in CHANNELS.values()]
                           for samples in utterances]
        medians = [[float(np.median(model.score(clip_windows(signal, model.front_end)))) for signal in channels]
                   for channels in heard[rate]]
        means = np.mean(medians, axis=0)
        print(" | ".join([str(seed), f"{model.decision.threshold:+.3f}", *(f"{m:+.3f}" for m in means)]))


def heard_at(samples: np.ndarray, rate: int) -> np.ndarray:
    """`samples` (at RATE) at the broadcast's level, resampled to `rate` by the decoder clips go through."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as file:
        soundfile.write(file.name, samples * 0.1 / level(samples), RATE)
        return load_audio(file.name, rate)


if __name__ == "__main__":
    main()
