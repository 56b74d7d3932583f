"""Does a threshold chosen on one annotated broadcast hold on another broadcast of the same voice?

    python benchmarks/make_real_sets.py --second-draw -o benchmarks/cache/second-draw
    python benchmarks/threshold_transfer.py --models CACHE [--seeds 0 1]

For each set of `--first` that `--second` holds again (the same training clips, another broadcast of the
reader: see `make_real_sets.py --second-draw`) and each seed's model in `--models` (the `--cache` of
`benchmarks/accuracy.py`, `SET.seedN.pt`), both broadcasts are scanned once and decided again at the
thresholds of `eval --sweep`. The threshold a user would pick on the first (the best frame F1; or the best
among those that find every turn) is then scored on the second, beside the calibrated one: what
`speakerspot tune` after `eval --sweep` gives on a recording it was not chosen on. One JSON line per
model, then the means per group of sets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import speakerspot
from speakerspot.evaluation import SWEEP_SHIFTS, Evaluation, best_in_sweep, read_truth, threshold_sweep

CALIBRATED = SWEEP_SHIFTS.index(0.0)


def swept(model: speakerspot.SpeakerModel, folder: Path) -> list[tuple[float, Evaluation]]:
    result = speakerspot.scan(model, folder / "test" / "broadcast.ts")
    truth = read_truth(folder / "test" / "truth.json")
    return threshold_sweep([(result, truth)], model.decision, model.front_end.step_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--first", type=Path, default=Path("benchmarks/cache/sets"))
    parser.add_argument("--second", type=Path, default=Path("benchmarks/cache/second-draw"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    arguments = parser.parse_args()
    picks = {"calibrated": None, "best F1": False, "best F1 finding every turn": True}
    totals: dict[tuple[str, str], list[Evaluation]] = {}
    for second in sorted(p for p in arguments.second.iterdir() if (p / "test" / "truth.json").exists()):
        group = "real-NNN-sessions" if second.name.endswith("-sessions") else "real-NNN"
        for seed in arguments.seeds:
            model = speakerspot.load_model(arguments.models / f"{second.name}.seed{seed}.pt")
            first_rows, second_rows = swept(model, arguments.first / second.name), swept(model, second)
            line = {"set": second.name, "seed": seed}
            for pick, every_turn in picks.items():
                index = CALIBRATED if every_turn is None else best_in_sweep(first_rows, every_turn)
                totals.setdefault((group, pick), []).append(second_rows[index][1])
                line[pick] = {"shift": SWEEP_SHIFTS[index], "first": first_rows[index][1].to_dict(),
                              "second": second_rows[index][1].to_dict()}
            print(json.dumps(line), flush=True)
    for (group, pick), rows in totals.items():
        print(f"{group}, {pick}: on the second broadcast F1 {sum(r.frame_f1 for r in rows) / len(rows):.3f} "
              f"(min {min(r.frame_f1 for r in rows):.3f}), turns {sum(r.turns_found for r in rows)}/"
              f"{sum(r.turns for r in rows)}, false alarms {sum(r.false_alarm_segments for r in rows)}")


if __name__ == "__main__":
    main()
