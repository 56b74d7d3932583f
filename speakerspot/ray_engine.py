"""Scan a batch on a Ray cluster: one task per recording, results streamed back to the driver.

The driver (the process that called `scan_batch`) keeps the results index and writes every output,
so resuming, `--force`, skipping unchanged files and `results` work as with local workers. Workers
read recordings by path: the paths must mean the same files on every node (shared storage). The
models go into the object store once; each task gets them from there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ScanOptions
from .errors import MediaError, SpeakerspotError
from .media_files import readable_once
from .recordings import PIPE_NOT_READ_AGAIN, Outcome, Recording, scan_one

if TYPE_CHECKING:
    from .model import SpeakerModel

INSTALL_HINT = "--engine ray needs Ray: pip install 'speakerspot[ray]'"
# A task whose worker process or node dies is run once more; a recording that kills its worker
# twice is that recording's failure (a crash in a decoder, out of memory), and the batch goes on.
TASK_RETRIES = 1


class RayMissing(SpeakerspotError):
    """--engine ray without Ray installed."""

    exit_code = 2


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayMissing(None, INSTALL_HINT) from None
    return ray


def scan_task(models: list[SpeakerModel], path: str, options: ScanOptions) -> Outcome:
    """What a Ray worker runs: one recording, every model (`recordings.scan_one`, on this worker's core)."""
    return scan_one(models, Path(path), options, decoder_process=False)


def scan_on_ray(models: list[SpeakerModel], recordings: list[Recording], options: ScanOptions,
                address: str | None = None, workers: int | None = None) -> Iterator[tuple[Recording, Outcome]]:
    """Scan `recordings` as Ray tasks, yielding each (recording, outcome) as it finishes.

    `address` is a running cluster's ("auto" for the one this machine belongs to, or HOST:PORT);
    None starts a local one for this process, of `workers` CPUs (default: all). Each task asks for
    a CPU, and a GPU when the models are on a CUDA device. At most twice as many tasks as the
    cluster has CPUs are in flight, so that a folder of many thousand recordings is not all queued
    at once and results keep coming.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # "local" starts a cluster of this process's own, even where another runs on this machine.
        try:
            ray.init(address=address or "local", num_cpus=None if address else workers, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError) as error:  # no cluster there, or not an address
            raise SpeakerspotError(None, f"cannot use the Ray cluster at {address}: {error}") from None
    gpus = 1 if any(str(model.device).startswith("cuda") for model in models) else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=TASK_RETRIES)(scan_task)
    shared_models = ray.put(models)
    limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    queue = list(reversed(recordings))
    running: dict = {}
    try:
        while queue or running:
            while queue and len(running) < limit:
                recording = queue.pop()
                # A pipe is not read again: what it delivered is gone (see `workers.scan_in_workers`).
                retries = 0 if readable_once(recording.path) else TASK_RETRIES
                # Workers may run elsewhere, in another folder: they get the path as this process sees it.
                running[task.options(max_retries=retries).remote(shared_models, str(recording.path.absolute()),
                                                                 recording.scan_options(options))] = recording
            done, _ = ray.wait(list(running), num_returns=1)
            for reference in done:
                recording = running.pop(reference)
                yield recording, as_given(recording, collect(ray, reference, recording))
    finally:
        for reference in running:  # stopped early (Ctrl-C, an error): the rest is not wanted
            ray.cancel(reference, force=True)
        if started_here:
            ray.shutdown()


def collect(ray, reference, recording: Recording) -> Outcome:
    """A task's outcome; a task Ray could not run to the end is that recording's failure."""
    try:
        return ray.get(reference)
    except ray.exceptions.RayError as error:
        pipe = readable_once(recording.path)  # run once only (see `scan_on_ray`)
        problem = (f"the Ray worker scanning it died{'' if pipe else ' twice'} (a crash in the decoder, out of "
                   f"memory, or its node went away): {error.__class__.__name__}")
        return MediaError(recording.path, f"{problem}; {PIPE_NOT_READ_AGAIN}" if pipe else problem), 0.0


def as_given(recording: Recording, outcome: Outcome) -> Outcome:
    """The outcome naming the recording's path as the user gave it, as local scans do (the task had its
    absolute path)."""
    results, seconds = outcome
    if isinstance(results, SpeakerspotError):
        return type(results)(recording.path if results.path else None, results.problem), seconds
    return [replace(result, file=str(recording.path)) for result in results], seconds
