"""What training again with a programme's checked turns (`train --turns`) does for the rest of that programme.

    python benchmarks/retrain_with_turns.py --bench ../shared/bench --bench benchmarks/cache/sets \
        --models CACHE --seed 0 [--rest] [--never-hold-turns] -o OUT

A user whose model misses the target in a programme of another studio or line corrects the scan's labels of
its first part and trains again with those turns among the positives. For each set of `--bench` whose
committed model `--models` holds (the `--cache` of `benchmarks/accuracy.py`, `SET.seedN.pt`), the broadcast
is split between two of the target's turns, a model is trained on the set's clips and the first half's
turns (from the truth) with `--seed`, and both models are scored on the second half alone (frame F1, turns
found, false alarms per hour, window EER: `speakerspot.evaluation`'s definitions, the benchmark scorer's).
`--rest` trains a third model with the first half's audio away from the target's turns (the programme's
other voices, jingles) among the negatives as well; `--never-hold-turns` holds back only clips, never a
turn. One table row per set, then the means per group of sets.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import soundfile

import speakerspot
import speakerspot.training
from speakerspot.clips import Excerpt, excerpt_samples
from speakerspot.config import TrainingConfig
from speakerspot.evaluation import Evaluation, evaluate, read_truth

REST_MARGIN_SECONDS = 1.0  # the rest of the programme keeps this far from every turn of the target
MIN_REST_SECONDS = 2.5


def second_half(result: speakerspot.ScanResult, truth: list[tuple[float, float]], split: float) -> Evaluation:
    """`result` scored against `truth` after `split` seconds alone, times counted from there."""
    late = result.window_times >= split
    return evaluate([(s.start - split, s.end - split) for s in result.segments if s.start >= split],
                    [(start - split, end - split) for start, end in truth if start >= split],
                    result.duration - split, result.window_times[late] - split, result.smoothed_scores[late])


def rest_before(truth: list[tuple[float, float]], split: float) -> list[tuple[float, float]]:
    """The stretches before `split` that keep clear of every turn of `truth`."""
    stretches, start = [], 0.0
    for turn_start, turn_end in (turn for turn in truth if turn[0] < split):
        stretches.append((start, turn_start - REST_MARGIN_SECONDS))
        start = turn_end + REST_MARGIN_SECONDS
    stretches.append((start, split - REST_MARGIN_SECONDS))
    return [(start, end) for start, end in stretches if end - start >= MIN_REST_SECONDS]


def hold_back_clips_only() -> None:
    """Make `train` hold back clips alone, never a turn (the variant `--never-hold-turns` measures)."""
    split = speakerspot.training.split_validation

    def clips_only(clips, fraction, rng):
        turns = [clip for clip in clips if isinstance(clip.path, Excerpt)]
        trained, held = split([clip for clip in clips if not isinstance(clip.path, Excerpt)], fraction, rng)
        return trained + turns, held

    speakerspot.training.split_validation = clips_only


def figures(runs: list[Evaluation]) -> list[str]:
    return [f"{statistics.mean(e.frame_f1 for e in runs):.3f}", f"{sum(e.turns_found for e in runs)}/"
            f"{sum(e.turns for e in runs)}", f"{statistics.mean(e.false_alarms_per_hour for e in runs):.1f}",
            f"{statistics.mean(e.eer for e in runs):.1%}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, action="append", required=True, help="a folder of sets")
    parser.add_argument("--models", type=Path, action="append", required=True, help="SET.seedN.pt of accuracy.py")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rest", action="store_true")
    parser.add_argument("--never-hold-turns", action="store_true")
    parser.add_argument("-o", "--output", type=Path, required=True, help="a folder for the models")
    arguments = parser.parse_args()
    if arguments.never_hold_turns:
        hold_back_clips_only()
    arguments.output.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| set | turns given | F1 | turns found | FA/h | window EER |\n| --- | --- | --- | --- | --- | --- |",
          flush=True)
    for folder in sorted(folder for bench in arguments.bench for folder in bench.iterdir()
                         if (folder / "test" / "truth.json").is_file()):
        committed = next((models / f"{folder.name}.seed{arguments.seed}.pt" for models in arguments.models
                          if (models / f"{folder.name}.seed{arguments.seed}.pt").is_file()), None)
        if committed is None:
            continue
        recording = folder / "test" / "broadcast.ts"
        truth = read_truth(folder / "test" / "truth.json")
        half = (len(truth) + 1) // 2
        split = (truth[half - 1][1] + truth[half][0]) / 2
        negatives = {"turns": [folder / "train" / "neg"]}
        if arguments.rest:
            rest = arguments.output / f"{folder.name}-rest"
            rest.mkdir(exist_ok=True)
            stretches = [Excerpt(recording, start, end) for start, end in rest_before(truth, split)]
            for number, samples in enumerate(excerpt_samples(stretches, 22050).values()):
                soundfile.write(rest / f"{number:03d}.wav", samples, 22050)
            negatives["turns and the rest"] = [folder / "train" / "neg", rest]
        runs = [second_half(speakerspot.scan(speakerspot.load_model(committed), recording), truth, split)]
        for variant, negative in negatives.items():
            model = speakerspot.train([folder / "train" / "pos"], negative, name=folder.name,
                                      turns=[Excerpt(recording, start, end) for start, end in truth[:half]],
                                      config=TrainingConfig(seed=arguments.seed), require_separation=False)
            model.save(arguments.output / f"{folder.name}.{variant.replace(' ', '-')}.seed{arguments.seed}.pt")
            runs.append(second_half(speakerspot.scan(model, recording), truth, split))
        rows.append((folder.name, runs))
        print(f"| {folder.name} | {half} | " + " | ".join(" / ".join(figure) for figure in
                                                         zip(*(figures([run]) for run in runs), strict=True)) + " |",
              flush=True)
    print(f"\ncolumns: committed / {' / '.join(negatives)}\n\n| sets | F1 | turns found | FA/h | window EER |\n"
          "| --- | --- | --- | --- | --- |")
    groups = {"TTS (dev)": lambda name: name == "dev", "sessions sets": lambda name: name.endswith("-sessions"),
              "one session, real": lambda name: name != "dev" and not name.endswith("-sessions")}
    for group, member in groups.items():
        if chosen := [runs for name, runs in rows if member(name)]:
            print(f"| {group} ({len(chosen)}) | " + " | ".join(" / ".join(figure) for figure in zip(
                *(figures([runs[k] for runs in chosen]) for k in range(len(chosen[0]))), strict=True)) + " |")


if __name__ == "__main__":
    main()
