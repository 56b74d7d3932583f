"""Does a threshold chosen on annotated broadcasts hold on another broadcast of the same voice?

    python benchmarks/make_real_sets.py --second-draw -o benchmarks/cache/second-draw
    python benchmarks/threshold_transfer.py --models CACHE [--seeds 0 1]
    python benchmarks/make_real_sets.py --draw 2 -o benchmarks/cache/third-draw
    python benchmarks/threshold_transfer.py --models CACHE --third benchmarks/cache/third-draw

For each set of `--first` that `--second` holds again (the same training clips, another broadcast of the
reader: see `make_real_sets.py --second-draw`) and each seed's model in `--models` (the `--cache` of
`benchmarks/accuracy.py`, `SET.seedN.pt`), the broadcasts are scanned once and decided again at the
thresholds of `eval --sweep`. The threshold a user would pick on the first (the best frame F1; or the best
among those that find every turn) is then scored on the second, beside the calibrated one: what
`speakerspot tune` after `eval --sweep` gives on a recording it was not chosen on. With `--third` (a
third broadcast of each reader, `make_real_sets.py --draw 2`), the thresholds picked on the first alone and
on the first and second together (`eval A B --sweep`, the two pooled) are scored on the third. One JSON line
per model, then the means per group of sets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import speakerspot
from speakerspot.evaluation import (
    SWEEP_SHIFTS,
    AnnotatedScan,
    Evaluation,
    best_in_sweep,
    read_truth,
    threshold_sweep,
)

CALIBRATED = SWEEP_SHIFTS.index(0.0)


def annotated(model: speakerspot.SpeakerModel, folder: Path) -> AnnotatedScan:
    return speakerspot.scan(model, folder / "test" / "broadcast.ts"), read_truth(folder / "test" / "truth.json")


def swept(model: speakerspot.SpeakerModel, scans: list[AnnotatedScan]) -> list[tuple[float, Evaluation]]:
    return threshold_sweep(scans, model.decision, model.front_end.step_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--first", type=Path, default=Path("benchmarks/cache/sets"))
    parser.add_argument("--second", type=Path, default=Path("benchmarks/cache/second-draw"))
    parser.add_argument("--third", type=Path, help="score on it the thresholds picked on the first, and on the "
                                                   "first and second together")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    arguments = parser.parse_args()
    held_back = arguments.third or arguments.second
    picks = {"best F1": False, "best F1 finding every turn": True}
    totals: dict[tuple[str, str], list[Evaluation]] = {}
    for held in sorted(p for p in held_back.iterdir() if (p / "test" / "truth.json").exists()):
        group = "real-NNN-sessions" if held.name.endswith("-sessions") else "real-NNN"
        for seed in arguments.seeds:
            model = speakerspot.load_model(arguments.models / f"{held.name}.seed{seed}.pt")
            first = annotated(model, arguments.first / held.name)
            chosen_on = {"the first": [first]}
            if arguments.third:
                chosen_on["the first and second"] = [first, annotated(model, arguments.second / held.name)]
            scored = swept(model, [annotated(model, held)])
            line = {"set": held.name, "seed": seed, "calibrated": scored[CALIBRATED][1].to_dict()}
            totals.setdefault((group, "calibrated"), []).append(scored[CALIBRATED][1])
            for on, scans in chosen_on.items():
                rows = swept(model, scans)
                for pick, every_turn in picks.items():
                    index = best_in_sweep(rows, every_turn)
                    totals.setdefault((group, f"{pick} on {on}"), []).append(scored[index][1])
                    line[f"{pick} on {on}"] = {"shift": SWEEP_SHIFTS[index], "chosen on": rows[index][1].to_dict(),
                                               "held back": scored[index][1].to_dict()}
            print(json.dumps(line), flush=True)
    for (group, pick), rows in totals.items():
        print(f"{group}, {pick}: on {held_back.name} F1 {sum(r.frame_f1 for r in rows) / len(rows):.3f} "
              f"(min {min(r.frame_f1 for r in rows):.3f}), turns {sum(r.turns_found for r in rows)}/"
              f"{sum(r.turns for r in rows)}, false alarms {sum(r.false_alarm_segments for r in rows)}")


if __name__ == "__main__":
    main()
