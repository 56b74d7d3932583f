"""Accuracy on the development benchmarks: train on each set's clips, scan its broadcast, score it.

    python benchmarks/accuracy.py --bench ../shared/bench [--sets dev real-1998] [--seeds 0 1 2] [--write]

Every folder under `--bench` with `train/pos`, `train/neg`, `test/broadcast.ts` and `test/truth.json`
is a set; a `train/pos_NAME` folder beside `train/pos` makes a variant of the set trained on it
instead (`real-1998/pos_programme`). Each set is trained once per seed (models are cached under
`--cache`; `--retrain` trains again), its broadcast scanned, and scored with the benchmark's own
scorer (`score.py` beside the sets) when there is one, else with `speakerspot.evaluation`, which uses
the same definitions. `--write` puts the table into BENCHMARKS.md between its accuracy markers.

A change to what training builds after the encoder (the memory bank, the others, the levels) is
measured on the encoders of an earlier run in seconds a model, not minutes: `--base EARLIER_CACHE
--config '{"epochs": 0, ...}' --cache NEW_CACHE` fine-tunes each set and seed's own model for no
epoch, so only the bank, others and levels are built again (the same held-back clips; the recipe
rebuilt so gives entries within 0.023 of the stored ones).

`--speech-edges` scans with `ScanOptions(speech_edges=True)`: run on the `--cache` of an earlier run,
it measures the option on that run's models as they are.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import speakerspot
from speakerspot.clips import find_clips
from speakerspot.evaluation import evaluate_scan, read_truth

BENCHMARKS_FILE = Path(__file__).parent.parent / "BENCHMARKS.md"
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"


@dataclass(frozen=True)
class BenchSet:
    name: str
    positives: Path
    negatives: Path
    recording: Path
    truth: Path


def find_sets(bench: Path, names: list[str] | None) -> list[BenchSet]:
    """The sets under `bench` (and their pos_* variants), in name order, filtered by `names`."""
    sets = []
    for folder in sorted(p for p in bench.iterdir() if p.is_dir()):
        train, test = folder / "train", folder / "test"
        if not ((train / "pos").is_dir() and (train / "neg").is_dir() and (test / "broadcast.ts").is_file()):
            continue
        for positives in sorted(train.glob("pos*")):
            name = folder.name if positives.name == "pos" else f"{folder.name}/{positives.name}"
            sets.append(BenchSet(name, positives, train / "neg", test / "broadcast.ts", test / "truth.json"))
    return [s for s in sets if not names or s.name in names or s.name.split("/")[0] in names]


def score(bench_set: BenchSet, result: speakerspot.ScanResult, scorer: Path, detections: Path) -> dict:
    """precision, recall, f1, turns_found, turns, false alarms per hour and EER of one scan."""
    detections.write_text(json.dumps(result.to_dict(windows=True)))
    if scorer.is_file():
        output = subprocess.run([sys.executable, str(scorer), str(bench_set.truth), str(detections)],
                                capture_output=True, text=True, check=True).stdout
        figures = json.loads(output)
        return {"f1": figures["frame_f1"], "precision": figures["frame_precision"], "recall": figures["frame_recall"],
                "turns_found": figures["turns_found"], "turns": figures["turns"],
                "false_alarms_per_hour": figures["false_alarms_per_hour"], "eer": figures.get("eer")}
    report = evaluate_scan(result, read_truth(bench_set.truth))
    return {"f1": report.frame_f1, "precision": report.frame_precision, "recall": report.frame_recall,
            "turns_found": report.turns_found, "turns": report.turns,
            "false_alarms_per_hour": report.false_alarms_per_hour, "eer": report.eer}


def run(bench_set: BenchSet, config: speakerspot.TrainingConfig, cache: Path, retrain: bool, scorer: Path,
        base: str | None, options: speakerspot.ScanOptions) -> dict:
    stem = f"{bench_set.name.replace('/', '-')}.seed{config.seed}"
    model_path = cache / f"{stem}.pt"
    if base is not None and Path(base).is_dir():  # each set and seed fine-tunes its own model of an earlier run
        earlier = Path(base) / f"{stem}.pt"
        if not earlier.is_file():  # that run's training refused: nothing to fine-tune
            return no_model(bench_set, config.seed, f"{base} holds no model of this set and seed", 0.0)
        base = str(earlier)
    training_seconds = None
    if retrain or not model_path.exists():
        started = time.monotonic()
        try:
            model = speakerspot.train(find_clips(bench_set.positives), find_clips(bench_set.negatives),
                                      config=config, name=stem, base=base, progress=True)
        except speakerspot.TrainingDataError as error:  # training refused to write a model: no detections
            return no_model(bench_set, config.seed, error.problem, time.monotonic() - started)
        training_seconds = time.monotonic() - started
        model.save(model_path)
    model = speakerspot.load_model(model_path)
    result = speakerspot.scan(model, bench_set.recording, options, progress=True)
    detections = f"{'.speech-edges' if options.speech_edges else ''}.detections.json"
    figures = score(bench_set, result, scorer, model_path.with_suffix(detections))
    validation = model.training_summary.get("validation") or {}
    return {"set": bench_set.name, "seed": config.seed, **figures, "threshold": result.threshold,
            "held_back_eer": validation.get("eer"), "training_seconds": training_seconds or
            model.training_summary.get("seconds")}


def no_model(bench_set: BenchSet, seed: int, why: str, training_seconds: float) -> dict:
    """The row of a set and seed without a model: it counts as finding nothing."""
    return {"set": bench_set.name, "seed": seed, "refused": why, "f1": 0.0, "turns_found": 0,
            "turns": len(read_truth(bench_set.truth)), "false_alarms_per_hour": 0.0, "eer": None,
            "training_seconds": training_seconds}


def table(rows: list[dict]) -> str:
    lines = ["| set | seed | frame P | frame R | frame F1 | turns | FA/h | window EER | threshold | training s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if "refused" in row:
            lines.append(f"| {row['set']} | {row['seed']} | no model: {row['refused'][:60]}… | | | | | | | "
                         f"{row['training_seconds']:.0f} |")
            continue
        eer = "n/a" if row["eer"] is None else f"{row['eer']:.1%}"
        lines.append(f"| {row['set']} | {row['seed']} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['f1']:.3f} | {row['turns_found']}/{row['turns']} | {row['false_alarms_per_hour']:.1f} | "
                     f"{eer} | {row['threshold']:.3f} | {row['training_seconds']:.0f} |")
    lines += ["", "| set | seeds | frame F1 mean (min) | turns found | FA/h mean (max) | window EER mean (max) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name in dict.fromkeys(row["set"] for row in rows):
        group = [row for row in rows if row["set"] == name]
        f1 = [row["f1"] for row in group]
        alarms = [row["false_alarms_per_hour"] for row in group]
        eers = [row["eer"] for row in group if row["eer"] is not None]
        eer = f"{np.mean(eers):.1%} ({max(eers):.1%})" if eers else "n/a"
        lines.append(f"| {name} | {len(group)} | {np.mean(f1):.3f} ({min(f1):.3f}) | "
                     f"{sum(r['turns_found'] for r in group)}/{sum(r['turns'] for r in group)} | "
                     f"{np.mean(alarms):.1f} ({max(alarms):.1f}) | {eer} |")
    return "\n".join(lines)


def write_into_benchmarks(text: str) -> None:
    content = BENCHMARKS_FILE.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in content:
        content = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, content, flags=re.S)
    else:
        content += f"\n## Accuracy on every development set (`make bench-accuracy`)\n\n{block}\n"
    BENCHMARKS_FILE.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--sets", nargs="*", help="set names (default: every set found)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/cache/accuracy"))
    parser.add_argument("--retrain", action="store_true", help="train even where a cached model exists")
    parser.add_argument("--base", default="default",
                        help="base encoder to fine-tune: default (the shipped one), none, a model file, or the "
                             "--cache folder of an earlier run, whose model of each set and seed is fine-tuned; with "
                             "--config '{\"epochs\": 0}' that rebuilds their banks, others and levels alone")
    parser.add_argument("--config", default="{}",
                        help="TrainingConfig fields as JSON, e.g. '{\"epochs\": 24, \"chain\": {\"music\": 0.6}}'")
    parser.add_argument("--speech-edges", action="store_true",
                        help="scan with ScanOptions(speech_edges=True) (the cached models as they are, detections "
                             "written beside them as NAME.speech-edges.detections.json)")
    parser.add_argument("--write", action="store_true", help="put the table into BENCHMARKS.md")
    arguments = parser.parse_args()
    arguments.cache.mkdir(parents=True, exist_ok=True)
    fields = json.loads(arguments.config)
    if "chain" in fields:  # {"chain": {"music": 0.6}}: the broadcast chain's settings
        fields["chain"] = replace(speakerspot.TrainingConfig().chain, **fields["chain"])
    config = replace(speakerspot.TrainingConfig(), **fields)
    rows = []
    for bench_set in find_sets(arguments.bench, arguments.sets):
        for seed in arguments.seeds:
            row = run(bench_set, replace(config, seed=seed), arguments.cache, arguments.retrain,
                      arguments.bench / "score.py", arguments.base,
                      speakerspot.ScanOptions(speech_edges=arguments.speech_edges))
            print(json.dumps(row), flush=True)
            rows.append(row)
    text = (f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; "
            f"`python benchmarks/accuracy.py --bench {arguments.bench} --seeds "
            f"{' '.join(map(str, arguments.seeds))} --base {arguments.base}`\n\n{table(rows)}")
    print(text)
    if arguments.write:
        write_into_benchmarks(text)


if __name__ == "__main__":
    main()
