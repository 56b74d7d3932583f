"""The `speakerspot` command: a thin layer over the Python API."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import functools
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from .config import MERGE_SIMILARITY, PRECISIONS, ScanOptions, TrackChoice, TrainingConfig
from .errors import LOG_FORMAT, MediaError, SpeakerspotError
from .files import atomic_write, check_writable
from .writers import FORMAT_NAMES, LIVE_FORMATS, STREAM_FORMATS, clock_text, format_named_by

if TYPE_CHECKING:  # imported by the commands that use it, so that `--help` starts fast
    from .model import SpeakerModel
    from .results_index import IndexesAsOne, ResultsIndex
    from .segments import Decision, ScanResult

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  other error
  2  bad command line (unknown option, missing argument, a --device this machine lacks)
  3  a recording or clip cannot be read or has no usable audio
  4  a model file is missing, damaged or of an unsupported version
  5  the training clips cannot make a model
  6  an output file cannot be written
  130 interrupted (Ctrl-C); no partial output is left behind
"""


def reports_errors(command):
    """Turn speakerspot's errors into one line on stderr and their exit code (a traceback with --debug)."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug")
        try:
            return command(*args, **kwargs)
        except SpeakerspotError as error:
            if debug:
                raise
            report_error(error)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("speakerspot: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # stdout's reader is gone (`| head`): stop quietly, as the shell's tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush is not one more
            sys.exit(1)
    return wrapper


def report_error(error: SpeakerspotError) -> None:
    to_stderr(f"speakerspot: error: {error}")


def to_stderr(line: str) -> None:
    """A line on stderr above any progress bar (written bare, it would land inside the bar's line)."""
    tqdm.write(line, file=sys.stderr)


class ProgressSafeHandler(logging.Handler):
    """Log records as lines of their own above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        to_stderr(self.format(record))


def device_option(command):
    return click.option("--device", default="cpu", show_default=True,
                        help="Torch device to compute on: cpu, cuda, cuda:1 …")(command)


def fps_option(command):
    return click.option("--fps", "frame_rate", type=click.FloatRange(min=1, max=120),
                        help="Frame rate of EDL timecode, e.g. 25, 29.97 (drop-frame), 50. Default: the recording's "
                             "video frame rate, or 25 with audio-only events for a file without video.")(command)


def output_or_stdout_option(what: str):
    """-o/--output for results that go to stdout by default; `-o -` is stdout too, as in most tools."""
    def standard_output_as_none(context, parameter, value: Path | None) -> Path | None:
        return None if value == Path("-") else value

    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        callback=standard_output_as_none,
                        help=f"Write here instead of stdout ({what}; -: stdout).")


FORMAT_DEFAULT_HELP = "Default: the format -o's file name ends in (-o anna.srt: srt), else txt."


def formats_for(format_names: tuple[str, ...], output: Path | None,
                choices: tuple[str, ...] = FORMAT_NAMES) -> tuple[str, ...]:
    """The output formats -f asked for; none asked, the one of `choices` that -o's file name ends in (`-o anna.srt`),
    else txt. A file named for another format than -f's (other than .txt, which many formats are written to) is
    written as -f asks, with a warning."""
    named = format_named_by(output, choices) if output else None
    if not format_names:
        return (named or "txt",)
    if named not in (None, "txt", *format_names):
        logging.getLogger("speakerspot").warning("%s: written as %s, as -f asks, though its name says %s", output,
                                                 format_names[0], named)
    return format_names


def common_folder(paths: list[str]) -> Path | None:
    """The deepest folder holding every one of `paths` (absolute), None if they have none in common."""
    try:
        return Path(os.path.commonpath([str(Path(path).parent) for path in paths])) if paths else None
    except ValueError:  # relative and absolute paths mixed
        return None


def save_changed_model(model: SpeakerModel, model_path: Path, output: Path | None) -> Path:
    """Write a model a command changed: over `model_path`, or to `output`, named after it as `train -o`
    names a model (another file is another model in outputs and in a results index)."""
    if output:
        model.name = output.stem
    return model.save(output or model_path)


def models_of_voices(files: list[Path], models: list[SpeakerModel], given: tuple[Path, ...]
                     ) -> tuple[list[Path], list[SpeakerModel]]:
    """The model files and models but base encoders (`models/base.pt`), which a folder of models may hold
    beside them and which find nothing: left out with a warning; one given by name is an error."""
    from .errors import ModelFileError
    from .model import BASE_ENCODER_PROBLEM

    named = {path.resolve() for path in given if not path.is_dir()}
    kept = []
    for path, model in zip(files, models, strict=True):
        if model.is_base_encoder:
            if path.resolve() in named:
                raise ModelFileError(path, BASE_ENCODER_PROBLEM)
            logging.getLogger("speakerspot").warning("%s %s; left out", path, BASE_ENCODER_PROBLEM)
        else:
            kept.append((path, model))
    if not kept:
        raise click.UsageError(f"no model of a voice in {', '.join(map(str, given))}, only base encoders")
    return [path for path, _ in kept], [model for _, model in kept]


def check_outputs(output: Path | None, output_dir: Path | None, format_names: tuple[str, ...], results: int) -> None:
    """Refuse outputs that cannot hold `results` results (recordings times models) in `format_names`: -o with
    --output-dir; -o, one file, in several formats; on stdout, several formats; on stdout or in -o's file,
    several results in a format of one recording's segments for one model (srt, vtt, edl...), which would not
    parse."""
    if output and output_dir:
        raise click.UsageError("-o and --output-dir: give one of the two")
    if output and len(format_names) > 1:
        raise click.UsageError(f"-o writes one format; here {len(format_names)}: use --output-dir")
    if output_dir:
        return
    shared = "-o's file" if output else "stdout"
    if len(set(format_names)) > 1:
        raise click.UsageError("several formats cannot share stdout (it would not parse as either); use --output-dir")
    if results > 1 and (single := [name for name in format_names if name not in STREAM_FORMATS]):
        raise click.UsageError(f"{single[0]} holds the segments of one recording for one model: several results "
                               f"cannot share {shared}; use --output-dir (or -f txt, json, csv, rttm or xspf)")


ON_AIR_TIME_EXAMPLES = "2026-11-30, '2026-11-30 20:15', 2026-11-30T20:15+01:00"


def parse_on_air_time(context: click.Context, parameter: click.Parameter,
                      value: str | None) -> datetime.datetime | None:
    """A date, or a date and time, in ISO 8601; in this machine's time zone (TZ) unless it names one."""
    if value is None:
        return None
    try:
        return datetime.datetime.fromisoformat(value).astimezone()  # a naive time is taken as local
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or a date and time (e.g. {ON_AIR_TIME_EXAMPLES})") from None


def aired_options(command):
    """--aired-since and --aired-before: the results on air within a span (see `aired_results`)."""
    command = click.option("--aired-before", "before", callback=parse_on_air_time, metavar="WHEN",
                           help="Only the segments on air before WHEN (as --aired-since).")(command)
    return click.option("--aired-since", "since", callback=parse_on_air_time, metavar="WHEN",
                        help="Only the segments on air at WHEN or later (" + ON_AIR_TIME_EXAMPLES + "; in this "
                             "machine's time zone, TZ, unless it names one), and the recordings that hold any; "
                             "recordings that do not say when they were on air are left out, with a warning.")(command)


def aired_results(results: Iterable[ScanResult], since: datetime.datetime | None,
                  before: datetime.datetime | None) -> Iterator[ScanResult]:
    """`results`; with `since` or `before`, those of their segments on air in the span, and the results that hold
    any (see `ScanResult.aired_within`)."""
    for result in results:
        if not (since or before):
            yield result
        elif (aired := result.aired_within(since, before)) is not None:
            yield aired


def count_aired(results: Iterable[ScanResult], since: datetime.datetime | None,
                before: datetime.datetime | None) -> int:
    """How many results `aired_results` gives of `results` with a span (`since` or `before`); those left out as they
    do not say when they were on air are told in a warning."""
    kept = untimed = 0
    for result in results:
        untimed += result.broadcast_time is None
        kept += result.aired_within(since, before) is not None
    if untimed:
        logging.getLogger("speakerspot").warning("%d result%s of recordings that do not say when they were on air "
                                                 "left out", untimed, "s" if untimed > 1 else "")
    return kept


def forget_deleted_below(index: ResultsIndex, folders: list[Path], quiet: bool) -> None:
    """`scan --forget-deleted`: the stored results of recordings deleted below `folders` forgotten, and said."""
    from .batch import forget_deleted_recordings

    for folder in folders:
        if (gone := forget_deleted_recordings(index, folder)) and not quiet:
            click.echo(f"{folder}: forgot the stored results of {len(gone)} recording{'s' if len(gone) > 1 else ''} "
                       "no longer there", err=True)


def parse_shard(context: click.Context, parameter: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """`--shard K/N` as (K, N), 1 <= K <= N."""
    if value is None:
        return None
    number, _, count = value.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise click.BadParameter(f"{value!r} is not K/N with 1 <= K <= N (e.g. 2/3: the second of three shares)")
    return int(number), int(count)


def check_live(recordings: int, format_names: tuple[str, ...], output: Path | None, output_dir: Path | None,
               speech_edges: bool, engine: str) -> None:
    """Refuse what `scan --live` cannot do: it prints one recording's segments on stdout as they come."""
    if recordings > 1:
        raise click.UsageError(f"--live follows one recording or stream; here {recordings}")
    if output or output_dir:
        raise click.UsageError("--live prints on stdout: redirect it, or pipe it to tee, to keep it in a file")
    if len(format_names) > 1 or format_names[0] not in LIVE_FORMATS:
        raise click.UsageError(f"--live prints one format of one line per segment: -f {', '.join(LIVE_FORMATS)}")
    if speech_edges:
        raise click.UsageError("--live and --speech-edges: the speech detector decides segment edges later; "
                               "give one of the two")
    if engine != "local":
        raise click.UsageError("--live scans in this process: not with --engine ray")


def model_file(path: Path) -> Path:
    """`path` with `.pt` added if it lacks it: `scan -m FOLDER` finds model files by their `.pt`."""
    return path if path.suffix == ".pt" else path.with_name(path.name + ".pt")


def found_model_files(context: click.Context, parameter: click.Parameter, value):
    """Model paths as given, each with `.pt` added where only that exists (`-m models/anna` for models/anna.pt, as
    `train -o models/anna` named it)."""
    def found(path: Path) -> Path:
        return model_file(path) if not path.exists() and model_file(path).exists() else path

    return tuple(map(found, value)) if isinstance(value, tuple) else found(value)


def speech_edges_option(command):
    return click.option("--speech-edges", is_flag=True,
                        help="Begin and end segments only where a speech detector (Silero VAD) hears speech: music "
                             "or a jingle that scores like the voice then makes no segment. Only the segments' "
                             "edges are asked about, yet it takes time: 0.4-0.5 s more for a 20-minute recording, "
                             "up to 40% more for a long one full of segments (2 cores).")(command)


def segment_options(command):
    """--merge-gap and --min-duration: which segments are joined into one, and which are too short to keep."""
    command = click.option("--min-duration", type=click.FloatRange(min=0), metavar="SECONDS",
                           help="Drop segments shorter than this, after joining (default: the model's, 1 s); e.g. "
                                "5 to list only what the target says at length.")(command)
    return click.option("--merge-gap", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
                        help="Join segments closer than this into one (default: 0, none joined); e.g. 3 tells a "
                             "turn broken by a short question or applause as one.")(command)


def audio_stream_options(command=None, *, several_programmes: bool = False):
    """--audio-track, --language and --programme: which audio stream of a recording to read, handed to
    `command` as one `track` (a TrackChoice). With `several_programmes`, --programme repeats, and `command` gets
    the channels named more than once as `programmes` (a tuple; else empty), each to be scanned as a recording
    of its own, and a track of none."""
    if command is None:
        return functools.partial(audio_stream_options, several_programmes=several_programmes)
    run = command

    @functools.wraps(run)
    def with_track(*args, audio_track, language, programme, **kwargs):
        named = programme if several_programmes else (programme,) * (programme is not None)
        if audio_track is not None and named:
            raise click.UsageError("--audio-track and --programme each pick a track: give one of them")
        track = TrackChoice(audio_track, language, named[0] if len(named) == 1 else None)
        several = {"programmes": named if len(named) > 1 else ()} if several_programmes else {}
        return run(*args, track=track, **kwargs, **several)

    command = click.option("--programme", metavar="NAME", multiple=several_programmes,
                           help="In a capture of a whole multiplex, the track of this channel, by the name "
                                "`speakerspot info` lists (case aside), e.g. 'ZDF'; an ATSC channel ('13.1 "
                                "WNET-HD') also by its number or its short name alone; with --language, its track "
                                "in that language. Its track number may differ from one capture to the next; "
                                "its name does not." + (" Repeat for several channels, each scanned as a recording "
                                                        "of its own." if several_programmes else ""))(with_track)
    command = click.option("--language", help="Audio stream by language tag, e.g. deu, eng (see `info`).")(command)
    return click.option("--audio-track", type=int,
                        help="Audio stream by number, from 0 (see `speakerspot info`); default: the stream the "
                             "container marks as default, else the first, passing over audio description, "
                             "tracks for the hearing impaired and a stream that sends nothing.")(command)


def opened_indexes(stack: contextlib.ExitStack, paths: tuple[Path, ...], model_name: str | None) -> IndexesAsOne:
    """The results indexes at `paths` (one machine's each, as `scan --shard` writes them), open until `stack`
    closes, read as one; a --model none of them has seen, which would otherwise print nothing (a typo), and an
    index given twice are refused."""
    from .results_index import IndexesAsOne, ResultsIndex

    if len({path.resolve() for path in paths}) < len(paths):
        raise click.UsageError("an index is given twice with --db")
    indexes = IndexesAsOne([stack.enter_context(ResultsIndex(path)) for path in paths])
    names = indexes.model_names()
    if model_name is not None and model_name not in names:
        one = len(paths) == 1
        raise click.UsageError(f"{', '.join(map(str, paths))} hold{'s' if one else ''} no model named {model_name!r} "
                               f"({'it holds' if one else 'they hold'} {', '.join(map(repr, names)) or 'none'})")
    return indexes


class CommandsInOrderOfUse(click.Group):
    """Lists the commands as they are defined below, train and scan first, not alphabetically."""

    def list_commands(self, context: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=CommandsInOrderOfUse, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="speakerspot")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics (skipped packets, gaps) to stderr.")
def cli(debug: bool, verbose: bool) -> None:
    """Find where a given person speaks in recorded broadcasts.

    \b
    1. Train a model of the target voice from labeled clips:
         speakerspot train --pos clips/anna --neg clips/others -o models/anna.pt
    2. Scan recordings for it:
         speakerspot scan recording.ts --model models/anna.pt
    3. See the scores and hear each marker in a browser:
         speakerspot scan recording.ts -m models/anna.pt -f json --windows -o recording.json
         speakerspot report recording.json -o recording.html
    4. Check it on an annotated recording, and store the threshold that suits your recordings:
         speakerspot eval annotated.ts -m models/anna.pt --truth annotated.json --sweep
         speakerspot tune models/anna.pt -t THRESHOLD
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=LOG_FORMAT,
                        handlers=[ProgressSafeHandler()])
    if debug:  # a failure the batch turns into one line also logs its traceback, at debug level
        logging.getLogger("speakerspot").setLevel(logging.DEBUG)


speaker_option = click.option(
    "--speaker", help="With an RTTM truth file: the speaker name of the target; with Audacity labels: the label of the "
                      "target's regions (default: every region).")


@cli.command(short_help="Train a model of one voice from labeled clips.", epilog=EXIT_CODES_HELP)
@click.argument("labeled_folder", required=False, type=click.Path(path_type=Path))
@click.option("--pos", "positive_folders", multiple=True, type=click.Path(path_type=Path),
              help="Folder (searched recursively) or file of clips of the target voice; repeat for several "
                   "(clips from several recordings teach the voice rather than one session).")
@click.option("--neg", "negative_folders", multiple=True, type=click.Path(path_type=Path),
              help="Folder (searched recursively) or file of clips of other voices; repeat for several. "
                   "Default: the voices of 36 other people shipped with speakerspot.")
@click.option("--target", help="With LABELED_FOLDER: the subfolder holding the target's clips; "
                               "every other subfolder is negative.")
@click.option("--turns", "turn_files", multiple=True, nargs=2, metavar="RECORDING TRUTH",
              type=click.Path(exists=True, path_type=Path),
              help="The target's turns in RECORDING, where TRUTH marks them (as `eval --truth` reads it: JSON, "
                   "RTTM with --speaker, an Audacity label track), among the positives: the voice through that "
                   "programme's studio or line. Repeat for several recordings. Its audio stream is the one "
                   "--audio-track, --language or --programme pick, as for the scan.")
@speaker_option
@audio_stream_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to write, e.g. models/anna.pt (.pt is added to a name without it, as `scan -m "
                   "FOLDER` finds model files by it); its name (anna) names the model in outputs and in a results "
                   "index.")
@click.option("--epochs", default=TrainingConfig.epochs, show_default=True,
              help="Passes over freshly augmented clips.")
@click.option("--margin", default=TrainingConfig.margin, show_default=True,
              help="Triplet loss margin on cosine similarity.")
@click.option("--seed", default=TrainingConfig.seed, show_default=True,
              help="Random seed; the same seed gives the same model.")
@click.option("--base", default="default", show_default=True,
              help="Model file whose encoder is fine-tuned: 'default' is the base encoder shipped with speakerspot "
                   "(pretrained on 81 LibriSpeech readers), 'none' trains a new encoder from scratch.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=TrainingConfig.precision,
              show_default=True,
              help="What training computes in: auto is bfloat16 on a CPU with AMX (a fifth less time there), "
                   "float32 elsewhere. Scans compute in float32 either way.")
@click.option("--force", is_flag=True,
              help="Write the model even when its held-back clips do not separate (it still says so).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@device_option
@reports_errors
def train(labeled_folder, positive_folders, negative_folders, target, turn_files, speaker, track, output, epochs,
          margin, seed, base, precision, force, quiet, device):
    """Train a model of one voice from labeled clips.

    Give the target's clips with --pos and other voices with --neg, or one LABELED_FOLDER with a
    subfolder per speaker and --target naming the target's (--pos and --neg then add to its
    clips). --turns adds the target's turns in a recording, as a truth file marks them (a scan's
    Audacity labels, corrected). Without --neg, the voices of 36 other people shipped with speakerspot
    (LibriSpeech readers) are the negatives; clips of the other voices of your recordings teach more. Clips may be
    any format, sample rate and length; clips that cannot be decoded, shorter than a window (about
    2 s) or silent are left out with a warning naming them, and pauses, music and applause inside
    the target's clips are found and not learnt as the target.
    The shipped base encoder, which knows voices in general, is fine-tuned on them (--base none
    trains one from scratch). A fifth of the clips is held back to calibrate the model's
    threshold; the summary printed at the end reports its equal-error rate and whether the model
    is healthy. A model whose embedding collapsed, or whose held-back clips do not separate, is not
    written (exit 5); where one held-back window of the target decides that verdict (under 4 of them
    held back, one short clip, or an EER over the limit by one window's share), it says so and
    writes the model.

    \b
    Examples:
      speakerspot train --pos clips/anna --neg clips/others -o models/anna.pt
      speakerspot train --pos clips/anna -o models/anna.pt      (against the shipped voices of others)
      speakerspot train --pos anna/studio --pos anna/phone --neg others --neg jingles -o models/anna.pt
      speakerspot train clips/ --target anna -o models/anna.pt
      speakerspot train --pos clips/anna --turns news.ts news.labels.txt -o models/anna.pt
    """
    from .clips import labeled_folders, recording_turns
    from .training import train as train_model
    from .training import training_report

    if (labeled_folder is None) != (target is None):
        raise click.UsageError("LABELED_FOLDER needs --target LABEL" if target is None else
                               "--target names a subfolder of a LABELED_FOLDER; give one")
    if labeled_folder is None and not positive_folders and not turn_files:
        raise click.UsageError("give --pos (and --neg), --turns RECORDING TRUTH, or a LABELED_FOLDER with --target")
    if not turn_files and (speaker or track != TrackChoice()):
        raise click.UsageError("--speaker, --audio-track, --language and --programme are for the recordings of "
                               "--turns: give --turns RECORDING TRUTH")
    positives, negatives = labeled_folders(labeled_folder, target) if labeled_folder is not None else ([], [])
    turns = [turn for recording, truth in turn_files for turn in recording_turns(recording, truth, speaker, track)]
    output = check_writable(model_file(output))  # now, not after the training
    config = TrainingConfig(epochs=epochs, margin=margin, seed=seed, precision=precision)
    # --pos and --neg add to a labeled folder's clips (each clip read once, by `train`, to know it once)
    model = train_model([*positives, *positive_folders], [*negatives, *negative_folders], turns=turns, config=config,
                        base=base, require_separation=not force, device=device, name=output.stem, progress=not quiet)
    model.save(output)
    click.echo(f"wrote {output}: {training_report(model.training_summary)}", err=True)


@cli.command(short_help="Find where the models' voices speak in recordings.", epilog=EXIT_CODES_HELP)
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-m", "--model", "model_paths", required=True, multiple=True, type=click.Path(path_type=Path),
              callback=found_model_files,
              help="Model file written by `speakerspot train`, or a folder of them; repeat for several people "
                   "(each recording is decoded once and scored by every model).")
@click.option("-t", "--threshold", type=float,
              help="Detection threshold on the smoothed score (top-5 mean cosine to the target less that to "
                   "other voices and sounds, -2 to 2); default: each model's calibrated threshold, with its "
                   "hysteresis and edge level below it (0 where training had too few clips to calibrate). "
                   "The design's reference, 0.7, was on the cosine to the target alone.")
@audio_stream_options(several_programmes=True)
@click.option("--every-programme", "every_channel", is_flag=True,
              help="In a capture of a whole multiplex, scan every channel that carries audio, each as a recording "
                   "of its own (its track as --programme picks it; with --language, in that language), read once "
                   "per channel: outputs named RECORDING-STEM.CHANNEL.MODEL.FORMAT, each channel's results stored "
                   "in the index. A channel that sends no audio at the capture's start, nor a quarter, half or three "
                   "quarters of the way in (off air, or encrypted), is passed over, with a warning. A recording of "
                   "one programme is scanned as it is. Not with --programme, --audio-track, --live or a pipe.")
@click.option("-f", "--format", "format_names", type=click.Choice(FORMAT_NAMES), multiple=True,
              help="Output format; repeat for several. txt: one line per segment; json/jsonl: segments and "
                   "metadata; csv; srt/vtt: subtitles a player shows; rttm: NIST; audacity: label track; "
                   "ffmetadata: FFmpeg chapters; edl: CMX3600 for video editors; xspf: a playlist of the "
                   "segments that VLC plays one after another. " + FORMAT_DEFAULT_HELP)
@click.option("--windows", is_flag=True, help="With json/jsonl: include every window's time and score.")
@click.option("--live", is_flag=True,
              help="Print each segment on stdout as soon as it is decided, while the recording is read: "
                   "follow a live stream piped in, 7-21 s after each turn ends (see the examples). One "
                   "recording, one format of one line per segment (txt, jsonl, csv, rttm); each says when "
                   "it was on air once a DVB stream's time tables told it. Not with -o, --output-dir or "
                   "--speech-edges.")
@output_or_stdout_option("one format; for several recordings or models, txt, json, csv, rttm or xspf, each "
                         "written as stdout gets it")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write RECORDING-STEM.MODEL.FORMAT files here, mirroring the folders scanned.")
@click.option("--glob", "patterns", multiple=True,
              help="In folders, scan files matching this pattern (e.g. '*.ts'); repeatable. "
                   "Default: the media extensions (.ts .m2ts .trp .wtv .mxf .mkv .mp4 .mpg .wav .flac .mp3 …).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Results index (SQLite, created on first use): every result is stored as soon as its "
                   "recording is done, and recordings already stored, unchanged (or moved: the same content "
                   "where nothing is left under the old path), with the same model and settings are not "
                   "scanned again; see `speakerspot results`.")
@click.option("--force", is_flag=True, help="With --db: scan again even what is stored and unchanged.")
@click.option("--forget-deleted", is_flag=True,
              help="With --db and folders: after the scan, forget the stored results of recordings below them that "
                   "are no longer there (a recording moved within them keeps its results). Those below a folder "
                   "left empty are kept: a disk not mounted leaves its mount point empty.")
@click.option("--shard", callback=parse_shard, metavar="K/N",
              help="Scan share K of N of the recordings found, for N machines that each scan one share (with "
                   "an index of their own, outputs on shared storage): every machine, given the same folder "
                   "wherever it is mounted, picks the same recordings for share K.")
@click.option("-j", "--workers", type=click.IntRange(min=1),
              help="Recordings scanned at once, each in its own process. Default: the number of cores "
                   "(1 with a CUDA device). With --engine ray and no --ray-address: the CPUs of the local "
                   "cluster started for the scan.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine. ray: one Ray task per recording on a cluster "
                   "(pip install 'speakerspot[ray]'); this process still writes every output and the --db "
                   "index. Recordings are read by path on the workers: use paths every node sees.")
@click.option("--ray-address", help="With --engine ray: the cluster to use, 'auto' (the one `ray start` "
                                    "made this machine part of) or HOST:PORT; default: start a local one.")
@click.option("--decoders", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes decoding an MPEG-TS recording of more than an hour, on pieces of it in turn, where "
                   "recordings are scanned one at a time (the same results). For machines of 4 or more cores, "
                   "where one decoder is slower than the rest of the scan; on 2 cores 1 is faster.")
@speech_edges_option
@segment_options
@fps_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@device_option
@reports_errors
def scan(recordings, model_paths, threshold, track, programmes, every_channel, format_names, windows, live, output,
         output_dir, patterns, db_path, force, forget_deleted, shard, workers, engine, ray_address, decoders,
         speech_edges, merge_gap, min_duration, frame_rate, quiet, device):
    """Find where the models' voices speak in RECORDINGS (files or folders, searched recursively).

    A recording is any file FFmpeg reads: MPEG-TS from a DVB receiver (MP2, AC3, AAC), mkv, mp4,
    wav, flac, mp3… Times are as a player shows them (0:00 is the start of the file); where a DVB
    recording carries the broadcast's time, also when each segment was on air (txt, csv, json). In a
    folder, a recording made as HLS (play.m3u8 and its segments) is one recording, the playlist, and a VDR
    recording (NAME.rec/00001.ts, 00002.ts, …, or an old VDR's 001.vdr, …) one, its folder; a file reached
    twice (through a symbolic or hard link too) is scanned once. A recording that cannot be read is reported
    and skipped; the others are scanned, and the exit code says that some failed. Interrupted, a scan
    with --db resumes where it stopped. A capture of a whole multiplex: --programme picks a channel's
    track by name, --every-programme scans each channel.

    \b
    Examples:
      speakerspot scan news.ts --model models/anna.pt
      speakerspot scan news.ts -m models/anna.pt --format json --windows -o news.json
      speakerspot scan /pvr/recordings -m models/anna.pt -m models/bob.pt -f srt -f csv --output-dir markers/
      speakerspot scan /archive --glob '*.ts' -m models/ --db archive.sqlite -q
      speakerspot scan /nas/pvr -m models/ --shard 2/3 --db pvr-2.sqlite --output-dir /nas/markers   (machine 2 of 3)
      speakerspot scan /captures/mux -m models/anna.pt --every-programme --db mux.sqlite --output-dir markers/
      cat capture.ts | speakerspot scan - -m models/anna.pt     (- is the standard input)

    \b
    Following a live channel, each segment printed 7-21 s after its turn ends:
      dvbv5-zap -c channels.conf -p -o - 'Das Erste HD' | speakerspot scan - -m models/anna.pt --live
      ffmpeg -nostdin -i udp://239.1.1.1:1234 -map 0:a:0 -c copy -f mpegts - | speakerspot scan - -m models/ --live
      tail -c +1 -f /pvr/recording-in-progress.ts | speakerspot scan - -m models/anna.pt --live
    """
    from .audio import DEFAULT_SAMPLE_RATE
    from .batch import every_programme, find_recordings, namesakes, scan_batch, shard_of
    from .decoder_process import start_early, stop_early_helpers
    from .media_files import readable_once, recording_path
    from .results_index import ResultsIndex
    from .split_recordings import is_vdr_recording
    from .threads import available_cores
    from .writers import ResultOutputs, SegmentLines

    format_names = formats_for(format_names, output)
    found_models = (p for given in model_paths for p in (sorted(given.glob("*.pt")) if given.is_dir() else [given]))
    files = list({path.resolve(): path for path in found_models}.values())  # a model given twice scans once
    if not files:
        raise click.UsageError(f"no model files (*.pt) in {', '.join(map(str, model_paths))}")
    found = find_recordings(recordings, patterns, progress=not quiet)
    if not found:
        raise MediaError(", ".join(map(str, recordings)),
                         f"no files matching {' or '.join(patterns)}" if patterns else "no media files found")
    folders = [path for path in map(recording_path, recordings) if path.is_dir() and not is_vdr_recording(path)]
    if forget_deleted and not (db_path and folders):
        raise click.UsageError("--forget-deleted goes with --db and a folder to scan")
    if shard:
        shared = shard_of(found, *shard)
        if not quiet or not shared:
            click.echo(f"shard {shard[0]}/{shard[1]}: {len(shared)} of {len(found)} recordings", err=True)
        if not shared:
            if forget_deleted:  # its recordings deleted are still this share's index's to forget
                with ResultsIndex(db_path) as index:
                    forget_deleted_below(index, folders, quiet)
            return
        found = shared
    if every_channel and (programmes or track.programme is not None or track.audio_track is not None):
        raise click.UsageError("--every-programme scans each channel's track: not with --programme or --audio-track")
    if (every_channel or programmes) and (live or any(readable_once(r.path) for r in found)):
        raise click.UsageError(f"{'--every-programme' if every_channel else '--programme given several times'} "
                               "reads a capture once per channel: not a pipe, nor --live")
    if every_channel:
        with ResultsIndex(db_path) if db_path else contextlib.nullcontext() as index:
            found = every_programme(found, progress=not quiet, index=index)
    found = [dataclasses.replace(recording, programme=name) for recording in found for name in programmes] or found
    check_outputs(output, output_dir, format_names, len(found))  # now, before torch loads; with the models below
    if live:
        check_live(len(found), format_names, output, output_dir, speech_edges, engine)
    if force and not db_path:
        raise click.UsageError("--force goes with --db")
    if output:
        check_writable(output)  # now, not after the scan
    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address goes with --engine ray")
    if engine == "ray":
        from .ray_engine import import_ray

        import_ray()  # before any work: without Ray, say how to install it
    if workers is None:
        workers = 1 if device.startswith("cuda") else available_cores()
    scanned_here = engine == "local" and (workers == 1 or len(found) == 1)
    options = ScanOptions(threshold=threshold, **dataclasses.asdict(track), decoders=decoders,
                          speech_edges=speech_edges, merge_gap=merge_gap, min_duration=min_duration)
    with contextlib.ExitStack() as stack:
        if scanned_here:
            stack.callback(stop_early_helpers)  # one the scan did not take (the index had the results)
            # Decoding while torch loads, at the usual rate (a model of another rate starts a helper of its own).
            start_early(found[0].path, DEFAULT_SAMPLE_RATE, found[0].scan_options(options).track, decoders)
        from .model import load_model

        models = [load_model(path, device=device) for path in files]
        files, models = models_of_voices(files, models, model_paths)
        if not live:  # live, each line says which model found its segment
            check_outputs(output, output_dir, format_names, len(found) * len(models))
        if shared := namesakes(models):  # said with the files; the batch would refuse them too
            name, positions = next(iter(shared.items()))
            raise click.UsageError(f"{' and '.join(str(files[i]) for i in positions)} are models of one name, "
                                   f"{name!r}: their outputs would overwrite each other; scan them one at a time")
        # Scanning here (one worker, or one recording), a recording of more than a minute is decoded in a
        # helper process: leave it a core (on both torch took 60% more CPU time and 2 s more for 20 minutes).
        if scanned_here:
            import torch

            torch.set_num_threads(max(1, available_cores() - decoders))
        if live:  # every segment is printed as it comes, not again with its recording's results
            told, write = (SegmentLines(format_names[0], several=len(models) > 1,
                                        track=found[0].scan_options(options).track), lambda recording, results: None)
        else:
            told, write = None, stack.enter_context(ResultOutputs(
                format_names, windows=windows, output=output, output_dir=output_dir,
                several=len(found) * len(models) > 1, frame_rate=frame_rate))
        index = stack.enter_context(ResultsIndex(db_path)) if db_path else None
        summary = scan_batch(models, found, write, report_error, options=options, workers=workers, index=index,
                             force=force, progress=not quiet, engine=engine, ray_address=ray_address, on_segment=told,
                             on_broadcast_time=told.broadcast_time if told else None,
                             # live, a stream followed for days is held in bounded memory; an index stores windows
                             keep_windows=not live or db_path is not None)
        if not live:
            write.finish()
        if forget_deleted:
            forget_deleted_below(index, folders, quiet)
    if len(found) > 1 and not quiet:
        skipped = f", {summary.skipped} unchanged" if summary.skipped else ""
        failed = f", {len(summary.failures)} failed" if summary.failures else ""
        click.echo(f"scanned {summary.scanned} of {len(found)} recordings{skipped}{failed}: "
                   f"{summary.audio_seconds / 3600:.2f} h of audio in {summary.wall_seconds:.1f} s "
                   f"({summary.speed:.0f}x real time)", err=True)
        for error in summary.failures if len(summary.failures) > 1 else []:
            click.echo(f"  failed: {error}", err=True)
    if summary.failures:
        sys.exit(summary.failures[0].exit_code)


@cli.command(short_help="Print or export what a results index holds.", epilog=EXIT_CODES_HELP)
@click.option("--db", "db_paths", required=True, multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Results index written by `speakerspot scan --db`; repeat to read several as one (each "
                   "machine's of `scan --shard`).")
@click.option("-m", "--model", "model_name", help="Only this model's results (its name, as scan prints it).")
@click.option("-f", "--format", "format_names", type=click.Choice(FORMAT_NAMES), multiple=True,
              help="Output format; repeat for several (as for scan). " + FORMAT_DEFAULT_HELP)
@click.option("--windows", is_flag=True, help="With json/jsonl: include every window's time and score.")
@output_or_stdout_option("one format; for several results, txt, json, csv, rttm or xspf, as stdout gets it")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write RECORDING-STEM.MODEL.FORMAT files here, one per result and format, mirroring the "
                   "folders below the one the scan was given, as `scan --output-dir` did.")
@aired_options
@click.option("--failed", is_flag=True,
              help="List the recordings that failed, and why, instead: a line each, tab-separated: recording, "
                   "model, when (UTC), error, the audio stream chosen (a multiplex capture's channel, as outputs "
                   "name it; empty: the default).")
@fps_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (shown with --output-dir).")
@reports_errors
def results(db_paths, model_name, format_names, windows, output, output_dir, since, before, failed, frame_rate, quiet):
    """Print or export what a results index holds, without scanning again.

    \b
    Examples:
      speakerspot results --db archive.sqlite
      speakerspot results --db archive.sqlite --model anna -f csv > anna.csv
      speakerspot results --db archive.sqlite --model anna -f xspf > anna.xspf   # VLC plays every turn
      speakerspot results --db archive.sqlite -f srt -f edl --output-dir markers/
      speakerspot results --db archive.sqlite -m anna --aired-since 2026-11-01 --aired-before 2026-12-01 -f csv
      speakerspot results --db archive.sqlite --failed
      speakerspot results --db machine-1.sqlite --db machine-2.sqlite -f csv > all.csv
    """
    from .recordings import Recording
    from .writers import ResultOutputs, write_or_fail

    format_names = formats_for(format_names, output)
    check_outputs(output, output_dir, (), 0)  # -o with --output-dir, refused even with --failed
    with contextlib.ExitStack() as stack:
        indexes = opened_indexes(stack, db_paths, model_name)
        if failed:
            if since or before:
                raise click.UsageError("--failed lists recordings that were not scanned: not with --aired-since or "
                                       "--aired-before")
            for failure in indexes.failures(model_name):
                click.echo(f"{failure.recording}\t{failure.model}\t{failure.scanned_at}\t{failure.error}\t"
                           f"{failure.track.label}")
            return
        # those in a span counted first, for the checks below and the bar
        stored = count_aired(indexes.results(model_name, windows=False), since, before) if since or before else \
            indexes.count(model_name)
        check_outputs(output, output_dir, format_names, stored)
        write = stack.enter_context(ResultOutputs(format_names, windows=windows, output=output, output_dir=output_dir,
                                                  several=stored > 1, frame_rate=frame_rate))
        # mirrored below --output-dir as their scans mirrored them; a result stored before 2026-12-07, which does
        # not say below which folder, below the folder that holds all such
        relatives = indexes.relatives(model_name) if output_dir else {}
        root = common_folder([r for r in indexes.recordings(model_name) if r not in relatives]) if output_dir else None
        failures = []  # a recording whose outputs cannot be written; the others' are, as in a scan
        # files of thousands of results take a while; on stdout, the results themselves show the progress
        chosen = aired_results(indexes.results(model_name, windows=windows), since, before)  # json --windows only
        for result in tqdm(chosen, total=stored, desc="results", unit="result", leave=False,
                           disable=quiet or output_dir is None):
            recording = Recording.as_scanned(Path(result.file), relatives.get(result.file), root)
            if error := write_or_fail(write, recording, [result]):
                report_error(error)
                failures.append(error)
        write.finish()
    if failures:
        sys.exit(failures[0].exit_code)


@cli.command(short_help="Write HTML pages of scan results: timeline, segments, audio.", epilog=EXIT_CODES_HELP)
@click.argument("sources", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "db_paths", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Report what this results index holds (instead of scan JSON files); repeat to report several "
                   "as one.")
@click.option("-m", "--model", "model_name", help="With --db: only this model's results (its name).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The report's HTML file, or a folder to write it in (named after the JSON file or the index; "
                   "index.html for several JSON files); with several recordings, their pages go in "
                   "OUTPUT-STEM_files/ beside it.")
@click.option("--truth", "truth_paths", multiple=True, type=click.Path(path_type=Path),
              help="A recording's true turns, drawn under its timeline (JSON intervals, RTTM with --speaker, or an "
                   "Audacity label track, .txt, as for eval); of several recordings, one each, in the order they "
                   "come in the JSON files.")
@click.option("--truth-beside", is_flag=True,
              help="Each recording's true turns from the file beside it named after it, as eval finds them "
                   "(REC.labels.txt, REC.truth.json or REC.rttm; of a multiplex capture's channel first "
                   "REC.CHANNEL.truth.json and the like), where there is one: also with --db.")
@speaker_option
@click.option("--no-audio", is_flag=True, help="Cut no excerpts (faster; the recordings need not be at hand).")
@audio_stream_options
@click.option("--png", is_flag=True, help="Also a PNG picture of each recording's timelines, beside its page "
                                          "(pip install 'speakerspot[plot]').")
@aired_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@reports_errors
def report(sources, db_paths, model_name, output, truth_paths, truth_beside, speaker, no_audio, track, png, since,
           before, quiet):
    """Write an HTML report of scan results: per recording, the score timeline with the threshold
    and the segments found (zoom and pan), the segment list, and the audio around each segment,
    played by a click. SOURCES are JSON files of `scan --format json --windows`; or give --db. The
    excerpts come from the audio stream --audio-track, --language or --programme picks; without them,
    from the one each recording was scanned on (as its JSON or the index says; JSON that does not say:
    the default stream).

    \b
    The page is one self-contained file (scripts, styles and audio inline), which opens offline in
    any browser. Several recordings make an index page listing them, with the time found per
    speaker, and one page per recording in a folder beside it.

    \b
    Examples:
      speakerspot scan news.ts -m models/anna.pt -f json --windows -o news.json
      speakerspot report news.json -o news.html --truth news-truth.json
      speakerspot report --db archive.sqlite -o archive.html
    """
    from .report import group_by_recording, read_scan_json, write_report

    if bool(sources) == bool(db_paths):
        raise click.UsageError("give scan JSON files or --db, one of the two")
    if model_name and not db_paths:
        raise click.UsageError("--model goes with --db")
    if db_paths and len(truth_paths) > 1:  # an index lists its recordings in an order of its own
        raise click.UsageError("several --truth go with JSON files, in their order; with --db, one recording's "
                               "(--truth-beside finds each recording's by its name)")
    if truth_paths and truth_beside:
        raise click.UsageError("give --truth or --truth-beside, not both")
    from .evaluation import read_truth

    truths = [read_truth(path, speaker) for path in truth_paths] if truth_paths else None
    if output.is_dir():
        given = db_paths or sources
        named_after = given[0] if len(given) == 1 else Path("index")
        output = output / f"{named_after.stem}.html"
    failures = []
    if db_paths:
        with contextlib.ExitStack() as stack:
            indexes = opened_indexes(stack, db_paths, model_name)
            results = list(indexes.results(model_name))
            failures = [(failure.recording, failure.error) for failure in indexes.failures(model_name)]
    else:
        results = [result for source in sources for result in read_scan_json(source)]
    if since or before:
        count_aired(results, since, before)  # told what it leaves out
    results, given = list(aired_results(results, since, before)), len(results)
    if given and not results:
        raise SpeakerspotError(None, f"no segment of the {given} result{'s' if given > 1 else ''} was on air in that "
                                     "span: no report written")
    if truth_beside:
        truths = truths_beside([(group[0].file, group[0].track) for group in group_by_recording(results)], speaker,
                               quiet)
    # no stream named: each recording's excerpts from the one it was scanned on
    unwritten: list[SpeakerspotError] = []

    def not_written(error: SpeakerspotError) -> None:  # a recording's page: said, and the others written
        report_error(error)
        unwritten.append(error)

    written = write_report(results, output, truths=truths, audio=not no_audio,
                           track=None if track == TrackChoice() else track, failures=failures, png=png,
                           progress=not quiet, on_failure=not_written)
    if not quiet:
        more = f" and {len(written) - 1} more file(s)" if len(written) > 1 else ""
        click.echo(f"wrote {written[0]}{more}", err=True)
    if unwritten:
        sys.exit(unwritten[0].exit_code)


def recordings_and_truths_beside(paths: Iterable[Path],
                                  track: TrackChoice) -> tuple[list[Path], list[Path | None]]:
    """Each recording given and the truth file beside it named after it, or after it and the audio stream
    `track` chooses (None where there is none; see `evaluation.truth_beside`); a folder stands for the
    recordings under it that have one (the others are left out, with a warning naming how many), and one that
    holds none is a usage error."""
    from .batch import find_recordings
    from .evaluation import truth_beside, truth_names

    recordings, truths, unannotated = [], [], []
    for path in paths:
        if not path.is_dir():
            recordings.append(path)
            truths.append(truth_beside(path, track))
            continue
        annotated = len(recordings)
        for recording in find_recordings([path]):
            if (truth := truth_beside(recording.path, track)) is None:
                unannotated.append(recording.path)
            else:
                recordings.append(recording.path)
                truths.append(truth)
        if len(recordings) == annotated:
            raise click.UsageError(f"{path}: holds no recording with a truth file beside it named after it "
                                   f"({', '.join(looked.name for looked in truth_names('REC', track))})")
    if unannotated:
        names = ", ".join(map(str, unannotated[:3])) + (", …" if len(unannotated) > 3 else "")
        logging.getLogger("speakerspot").warning("%d recording(s) without a truth beside them left out: %s",
                                                 len(unannotated), names)
    return recordings, truths


def truths_beside(recordings: Iterable[tuple[str, TrackChoice]], speaker: str | None,
                  quiet: bool) -> list[list[tuple[float, float]] | None]:
    """The true turns of each of `recordings` (its file and the audio stream scanned) from the file beside it
    named after it (None where there is none; see `evaluation.truth_beside`), and a line saying of how many they
    were found."""
    from .evaluation import read_truth, truth_beside

    paths = [truth_beside(recording, track) for recording, track in recordings]
    if not quiet:
        click.echo(f"true turns beside {len(paths) - paths.count(None)} of {len(paths)} recording(s)", err=True)
    return [None if path is None else read_truth(path, speaker) for path in paths]


@cli.command("eval", short_help="Scan annotated recordings and score what was found.", epilog=EXIT_CODES_HELP)
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(path_type=Path),
              callback=found_model_files, help="Model file written by `speakerspot train`.")
@click.option("--truth", "truth_paths", multiple=True, type=click.Path(path_type=Path),
              help='The target\'s true turns: JSON {"intervals": [[start, end], ...]}, RTTM (with --speaker), or an '
                   "Audacity label track (.txt: File > Export > Export Labels; every region, or those --speaker "
                   "names). One per recording, in the same order; default: the file beside each recording named "
                   "after it, REC.labels.txt, REC.truth.json or REC.rttm (with --programme, first "
                   "REC.CHANNEL.truth.json and the like).")
@speaker_option
@click.option("-t", "--threshold", type=float, help="Detection threshold (default: the model's).")
@audio_stream_options
@speech_edges_option
@segment_options
@click.option("-f", "--format", "format_name", type=click.Choice(["txt", "json"]), help=FORMAT_DEFAULT_HELP)
@output_or_stdout_option("the figures")
@click.option("--sweep", is_flag=True,
              help="Also score the recordings at other thresholds: the levels moved together from 0.3 below to 0.3 "
                   "above the threshold in steps of 0.05 (the windows decided again, not scanned again), to choose "
                   "a --threshold for recordings like these.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@device_option
@reports_errors
def evaluate(recordings, model_path, truth_paths, speaker, threshold, track, speech_edges, merge_gap, min_duration,
             format_name, output, sweep, quiet, device):
    """Scan RECORDINGS and measure the detections against their truth (one --truth each). A folder
    given stands for the recordings under it that have a truth file beside them.

    Prints frame precision, recall and F1 (0.1 s grid, 0.5 s collar around truth boundaries),
    turns found (half a turn covered), false alarms per hour (segments less than 20% on truth)
    and the window equal-error rate (of the smoothed scores the threshold is compared to). Of
    several recordings, each one's figures, then those of all of them as one (frames, turns and
    windows pooled, false alarms over their whole length); one that cannot be read is told in
    one line and left out, the others are scored, and the exit code says so.

    \b
    With --sweep, a table of the same figures at other thresholds follows (of all the recordings);
    one annotated recording is a small sample: a threshold chosen on several is less at its mercy.

    \b
    Examples:
      speakerspot eval news.ts --model models/anna.pt --truth news-truth.json
      speakerspot eval news.ts -m models/anna.pt --truth news-truth.json --sweep
      speakerspot eval mon.ts tue.ts -m models/anna.pt --truth mon.labels.txt --truth tue.labels.txt --sweep
      speakerspot eval annotated/ -m models/anna.pt --sweep   # each recording with a truth beside it
    """
    import json

    from .evaluation import (
        SWEEP_SHIFTS,
        best_in_sweep,
        evaluate_scan,
        evaluate_scans,
        read_truth,
        threshold_sweep,
        truth_names,
    )
    from .model import load_model
    from .scanning import scan as scan_recording

    (format_name,) = formats_for((format_name,) if format_name else (), output, choices=("txt", "json"))
    if truth_paths and any(recording.is_dir() for recording in recordings):
        raise click.UsageError("a folder's recordings are scored against the truth beside each: give files "
                               "with --truth")
    if not truth_paths:  # the truth beside each recording, named after it
        recordings, truth_paths = recordings_and_truths_beside(recordings, track)
        if None in truth_paths:
            missing = recordings[truth_paths.index(None)]
            raise click.UsageError(f"give --truth, or a truth file beside each recording named after it: none beside "
                                   f"{missing} ({', '.join(looked.name for looked in truth_names(missing, track))})")
    if len(truth_paths) != len(recordings):
        raise click.UsageError(f"give one --truth per recording, in the same order: {len(recordings)} recording(s), "
                               f"{len(truth_paths)} truth file(s)")
    if any(path.suffix.lower() == ".rttm" for path in truth_paths) and not speaker:
        raise click.UsageError("an RTTM truth file holds several speakers: name the target's with --speaker")
    if sweep and speech_edges:
        raise click.UsageError("--sweep cannot go with --speech-edges: the speech detector is asked about the "
                               "segments' edges at one threshold only")
    if output is not None:
        check_writable(output)  # now, not after the scan
    truths = [read_truth(path, speaker) for path in truth_paths]  # all now, not after the scans
    model = load_model(model_path, device=device)
    scans, unread = [], {}  # by position: a recording that cannot be read is told and left out, the others scored
    for position, (recording, truth) in enumerate(zip(recordings, truths, strict=True)):
        try:
            scans.append((scan_recording(model, recording, threshold=threshold, **dataclasses.asdict(track),
                                         speech_edges=speech_edges, merge_gap=merge_gap, min_duration=min_duration,
                                         progress=not quiet), truth))
        except MediaError as error:
            report_error(error)
            unread[position] = error
    if not scans:
        sys.exit(next(iter(unread.values())).exit_code)
    result, several = scans[0][0], len(recordings) > 1
    report = evaluate_scans(scans)
    rows = threshold_sweep(scans, model.decision.with_threshold(threshold), model.front_end.step_seconds,
                           merge_gap=merge_gap, min_seconds=min_duration) if sweep else []
    every_turn_found = any(row.turns_found == row.turns for _, row in rows)
    best = {"best_threshold": rows[best_in_sweep(rows)][0] if rows else None,  # what a user would `tune` to
            "best_threshold_every_turn": rows[best_in_sweep(rows, every_turn=True)][0] if every_turn_found else None}
    if format_name == "json":
        swept = {"sweep": [{"threshold": level, **{key: value for key, value in row.to_dict().items() if key != "eer"}}
                           for level, row in rows], **best} if sweep else {}
        figures = iter([{"file": scanned.file, **evaluate_scan(scanned, truth).to_dict()} for scanned, truth in scans])
        listed = [{"file": str(recording), "error": unread[position].problem} if position in unread else next(figures)
                  for position, recording in enumerate(recordings)]
        each = {"recordings": listed} if several else {"file": result.file}
        lines = [json.dumps({**each, "model": result.model, "threshold": result.threshold, **report.to_dict(),
                             **swept})]
    else:
        lines = [f"{scanned.file}: {evaluate_scan(scanned, truth).text()}"
                 for scanned, truth in scans] if several else []
        if several:
            lines.append(f"all {len(scans)} recordings:" if not unread else
                         f"the {len(scans)} recording(s) read, as one ({len(unread)} of {len(recordings)} could not "
                         f"be read: {', '.join(str(recordings[p]) for p in unread)}):")
        lines += [report.text("\n") + f"  (threshold {result.threshold:.3f})"]
        if rows:
            lines.append("threshold  precision  recall     F1  turns  false alarms (per hour)")
        for position, (level, row) in enumerate(rows):
            lines.append(f"{level:9.3f}  {row.frame_precision:9.3f}  {row.frame_recall:6.3f}  {row.frame_f1:5.3f}  "
                         f"{row.turns_found:>2}/{row.turns:<2}  {row.false_alarm_segments} "
                         f"({row.false_alarms_per_hour:.1f})"
                         + ("  <- as scanned" if SWEEP_SHIFTS[position] == 0 else ""))
        if rows:
            every_turn = (f"{best['best_threshold_every_turn']:.3f}" if every_turn_found else "none finds every turn")
            check = "A threshold chosen on one recording is worth checking on a second; to" if len(scans) == 1 else "To"
            lines += [f"best F1 here: threshold {best['best_threshold']:.3f}; best finding every turn: {every_turn}. "
                      f"{check} store one in the model: speakerspot tune {model_path} -t THRESHOLD"]
    text = "".join(line + "\n" for line in lines)
    if output is None:
        click.echo(text, nl=False)
    else:
        with atomic_write(output) as file:
            file.write(text)
    if unread:
        sys.exit(next(iter(unread.values())).exit_code)


@cli.command(short_help="Set a model's threshold, as chosen with `eval --sweep`.", epilog=EXIT_CODES_HELP)
@click.argument("model_path", type=click.Path(path_type=Path), callback=found_model_files)
@click.option("-t", "--threshold", type=float, required=True,
              help="The model's new threshold; the levels below it (where a segment's windows stay, and its "
                   "ends) move with it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the tuned model here, named after this file as train names a model (.pt added if "
                   "missing; default: replace MODEL_PATH, atomically).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not what was written.")
@reports_errors
def tune(model_path, threshold, output, quiet):
    """Set MODEL_PATH's threshold for every later scan, its other levels moved with it.

    Training calibrates the threshold on a few held-back clips; a model's best threshold for your
    recordings may lie elsewhere. Choose it with `eval --sweep` on an annotated recording (and check
    it on a second), then store it here: unlike `scan -t`, which sets one threshold for every model
    of a scan, it is this model's, in every scan and batch. With --db, recordings are scanned again
    with the tuned model.

    \b
    Example:
      speakerspot eval news.ts -m models/anna.pt --truth news-truth.json --sweep
      speakerspot tune models/anna.pt -t -0.1
    """
    from .model import load_model

    output = check_writable(model_file(output)) if output else None
    model = load_model(model_path)
    before = model.decision
    model.decision = before.with_threshold(threshold)
    written = save_changed_model(model, model_path, output)
    if not quiet:
        after = model.decision
        click.echo(f"wrote {written}: threshold {before.threshold:.3f} → {after.threshold:.3f} "
                   f"({lower_levels_text(after)})", err=True)


@cli.command(short_help="Add clips of the target to a model, without retraining.", epilog=EXIT_CODES_HELP)
@click.argument("model_path", type=click.Path(path_type=Path), callback=found_model_files)
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the enlarged model here, named after this file as train names a model (.pt "
                   "added if missing; default: replace MODEL_PATH, atomically).")
@click.option("--merge-similarity", default=MERGE_SIMILARITY, show_default=True,
              help="A new window this similar (cosine) to a memory slot joins it instead of taking a new one.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not what was written.")
@device_option
@reports_errors
def enroll(model_path, clips, output, merge_similarity, quiet, device):
    """Add CLIPS (files or folders) of the target to MODEL_PATH's memory bank, without retraining.

    Use it when the target turns up in new conditions (a telephone interview, a new studio): the
    model then also remembers how the target sounds there. The levels are kept, and clips of a
    recording chain the model did not know lift the other voices of that chain too (on the real
    development sets, from 1.4 to 74 false alarms an hour): check them after it with `eval --sweep` on
    an annotated recording and `tune`, or train again with the clips among the positives, which
    calibrates on them.

    \b
    Example:
      speakerspot enroll models/anna.pt clips/anna-phone/
    """
    from .clips import clips_in
    from .model import load_model
    from .training import enroll as enroll_clips

    output = check_writable(model_file(output)) if output else None  # now, not after the work
    model = load_model(model_path, device=device)
    paths = clips_in(clips, "positive")  # counted for the summary below
    before = model.memory_bank.shape[0]
    enroll_clips(model, paths, merge_similarity=merge_similarity)
    written = save_changed_model(model, model_path, output)
    if not quiet:
        click.echo(f"wrote {written}: {len(paths)} clip(s), memory bank {before} → "
                   f"{model.memory_bank.shape[0]} slots; its levels are kept: check them on an annotated recording "
                   f"(speakerspot eval --sweep, then speakerspot tune)", err=True)


@cli.command(short_help="List a recording's audio streams, or describe a model.", epilog=EXIT_CODES_HELP)
@click.argument("recording", type=click.Path(path_type=Path))
@reports_errors
def info(recording):
    """List the audio streams of RECORDING: number (for --audio-track), PID (MPEG-TS), codec, channels,
    rate, language (for --language), duration, the channel each belongs to where the recording holds
    several (a capture of a whole multiplex; for --programme), and which one is scanned by default; and
    when its 0:00 was broadcast, where a DVB or ATSC recording holds the broadcast's time tables. `-` reads the
    standard input. Given a model file (.pt), describe the model: its name, what it was trained on and
    how healthy it was, its levels (and whether they were tuned since), its memory bank.

    \b
    Examples:
      speakerspot info news.ts
      dvbv5-zap -c channels.conf -p -o - 'Das Erste HD' | speakerspot info -
      speakerspot info models/anna.pt
    """
    import zipfile

    from .media_files import recording_path

    recording = recording_path(recording)

    # torch writes a model file as a zip (a pipe is not looked into: what is read of it is gone)
    if recording.suffix == ".pt" or (recording.is_file() and zipfile.is_zipfile(recording)):
        describe_model(recording)
        return
    from .audio import (
        BY_TIME_TABLES,
        audio_streams,
        broadcast_time_and_source,
        container_programmes,
        heard_at_start,
        heard_further_in,
        open_container,
        select_audio_stream,
    )
    from .media_files import readable_once
    from .sidecars import recorder_programme
    from .split_recordings import is_vdr_recording, recording_files

    with open_container(recording) as container:
        streams = audio_streams(container)
        scanned = select_audio_stream(container, recording) if streams else None
        default = list(container.streams.audio).index(scanned) if scanned else None
        programmes = container_programmes(container, recording)  # a capture of a whole multiplex: several
        at_start, format_name = heard_at_start(container, programmes), container.format.name
        aired, source = broadcast_time_and_source(container, recording, scanned) if scanned else (None, None)
    if not streams:
        click.echo(f"{recording}: no audio stream")
        return
    several = len({programmes.get(stream.pid) for stream in streams}) > 1
    click.echo("track  pid     codec      channels  rate    language  duration" + ("  programme" if several else ""))
    for stream in streams:
        duration = "?" if stream.duration is None else f"{stream.duration:.1f} s"
        if several:
            duration = f"{duration:<9} {programmes.get(stream.pid, '-')}"
        marker = "  (scanned by default)" if stream.index == default else ""
        pid = "-" if stream.pid is None else f"{stream.pid:#x}"
        # 0: a stream the programme lists that has sent no packet to tell
        channels, rate = stream.channels or "?", stream.sample_rate or "?"
        click.echo(f"{stream.index:<6} {pid:<7} {stream.codec:<10} {channels:<9} {rate:<7} "
                   f"{stream.language or '-':<9} {duration}{marker}")
    if several:  # a pipe is read once: one channel of it
        count = len({programmes[stream.pid] for stream in streams if stream.pid in programmes})
        click.echo(f"a capture of {count} channels: --programme NAME scans one"
                   + ("" if readable_once(recording) else ", --every-programme each"))
        if not all(at_start.values()) and not readable_once(recording):
            heard = heard_further_in(recording, format_name, programmes, at_start)
            for name in (name for name, sent in at_start.items() if not sent):
                click.echo(f"{name}: no audio at the capture's start; " + (
                    "on air further in" if heard.get(name) else
                    "none further in either (off air, or encrypted): --every-programme passes it over"))
    if is_vdr_recording(recording):
        files, programme = recording_files(recording), recorder_programme(recording)
        click.echo(f"a VDR recording of {len(files)} file(s), {files[0].name} to {files[-1].name}, read as one"
                   + (f": {programme}" if programme else ""))
    elif not readable_once(recording) and (programme := recorder_programme(recording)):
        click.echo(f"its recorder names it: {programme}")
    if aired is not None:
        click.echo(f"0:00 was broadcast at {clock_text(aired, tenths=source == BY_TIME_TABLES)} ({source})")


def lower_levels_text(decision: Decision) -> str:
    return f"segments stay above {decision.stay_threshold:.3f}, end above {decision.edge_threshold:.3f}"


def describe_model(path: Path) -> None:
    from .model import load_model
    from .training import training_report

    model = load_model(path)
    summary, decision = model.training_summary, model.decision
    click.echo(f"model '{model.name}' ({path})")  # as written: a name from a file name that is not UTF-8 too
    try:
        click.echo(f"trained on {training_report(summary)}")
    except (KeyError, TypeError):  # a file written before the summary said all of this
        click.echo(f"trained by speakerspot {summary.get('speakerspot_version', '?')}")
    calibrated = (summary.get("validation") or {}).get("threshold")
    tuned = ("" if calibrated is None or abs(calibrated - decision.threshold) < 5e-4 else
             f" (tuned since; calibrated {calibrated:.3f})")
    click.echo(f"levels: threshold {decision.threshold:.3f}{tuned}, {lower_levels_text(decision)}, "
               f"last at least {decision.min_segment_seconds:g} s")
    others = "" if model.others is None else f", less the top-{model.top_k} of {model.others.shape[0]} of others"
    click.echo(f"scores: top-{model.top_k} cosine to {model.memory_bank.shape[0]} windows of the target{others}")


def main() -> None:
    # Registered before the commands import anything, so run last: after every other exit handler (a helper
    # stopped, Ray shut down), the process ends without the interpreter's teardown, which frees, one by
    # one, every object torch and the libraries made, only to give the memory back anyway (a 20-minute
    # scan in 0.96x the time, paired; BENCHMARKS.md, 2026-12-04, eleventh session; before, its last
    # garbage collection alone took 0.35 s).
    exit_code = ExitCode()
    atexit.register(exit_code.exit_now)
    # A file name is bytes: one that is not UTF-8 (a Latin-1 name from an old archive) is printed as its
    # bytes, as `ls` prints it, where Python's stdout in a UTF-8 locale refuses it (a traceback, the batch lost).
    with contextlib.suppress(AttributeError):  # not a text file (replaced by the caller)
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        cli(prog_name="speakerspot")
    except SystemExit as exit:
        exit_code.set(exit.code)
        raise
    except KeyboardInterrupt:  # before a command began (its own Ctrl-C exits with 130 too)
        exit_code.set(130)
        raise


class ExitCode:
    """The code the command exits with, and the exit that skips the interpreter's teardown (see `main`)."""

    def __init__(self) -> None:
        self.code = 1  # until the command says otherwise: an uncaught exception's

    def set(self, code: int | str | None) -> None:
        self.code = 0 if code is None else code if isinstance(code, int) else 1  # as Python takes SystemExit's code

    def exit_now(self) -> None:
        logging.shutdown()  # its own exit handler, registered when logging was imported, would run after this one
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing more can be said on it
                stream.flush()
        os._exit(self.code)
