"""Scan recordings in worker processes on this machine (`--engine local`): a worker that dies costs
its recording alone, and a pipe is never read twice."""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.handlers
import multiprocessing
import signal
import sys
import threading
import types
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .config import ScanOptions
from .errors import MediaError
from .media_files import readable_once
from .recordings import (
    PIPE_NOT_READ_AGAIN,
    Outcome,
    Recording,
    RecordingBroadcastTimeCallback,
    RecordingSegmentCallback,
    scan_one,
)
from .threads import available_cores

if TYPE_CHECKING:
    from .model import SpeakerModel


def scan_here(models: list[SpeakerModel], recordings: list[Recording], options: ScanOptions, progress: bool,
              on_segment: RecordingSegmentCallback | None = None,
              on_broadcast_time: RecordingBroadcastTimeCallback | None = None,
              keep_windows: bool = True) -> Iterator[tuple[Recording, Outcome]]:
    for recording in recordings:
        told = functools.partial(on_segment, recording) if on_segment else None
        aired = functools.partial(on_broadcast_time, recording) if on_broadcast_time else None
        yield recording, scan_one(models, recording.path, recording.scan_options(options), progress, on_segment=told,
                                  on_broadcast_time=aired, keep_windows=keep_windows)


WORKER_DIED = "the process scanning it died (a crash in the decoder, or out of memory)"


def scan_in_workers(models: list[SpeakerModel], recordings: list[Recording], options: ScanOptions,
                    workers: int) -> Iterator[tuple[Recording, Outcome]]:
    """Scan in `workers` processes. A worker that dies (a crash in a decoder, out of memory) takes
    down its pool; the recordings it was scanning are rescanned one by one to find the culprit. A
    pipe is not: what it delivered is gone, and reading it again would wait for a writer that may
    never come."""
    queue = deque(recordings)
    while queue:
        interrupted = yield from pool_round(models, queue, options, workers)
        for recording in interrupted:
            if readable_once(recording.path):
                yield recording, (MediaError(recording.path, f"{WORKER_DIED}; {PIPE_NOT_READ_AGAIN}"), 0.0)
            elif (yield from pool_round(models, deque([recording]), options, 1)):
                yield recording, (MediaError(recording.path, WORKER_DIED), 0.0)


def pool_round(models: list[SpeakerModel], queue: deque[Recording], options: ScanOptions,
               workers: int) -> Generator[tuple[Recording, Outcome], None, list[Recording]]:
    """Scan from `queue` with at most `workers` recordings in flight until it is empty or a worker
    dies; returns the recordings in flight when one died."""
    threads = max(1, available_cores() // workers)
    context = multiprocessing.get_context("spawn")
    # The workers' log records are handled here, by this process's handlers: on a terminal, a line
    # of its own above the progress bar, not text written into the bar's line.
    log_records = context.Queue()
    listener = logging.handlers.QueueListener(log_records, LogHere())
    listener.start()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker,
                               initargs=(models, threads, logging.getLogger("speakerspot").getEffectiveLevel(),
                                         log_records))
    running: dict = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                try:
                    with main_module_hidden():  # a submit may start a worker
                        future = pool.submit(scan_in_worker, queue[0].path, queue[0].scan_options(options))
                except BrokenProcessPool:  # a worker died since the last results came in
                    return list(running.values())
                running[future] = queue.popleft()
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                recording = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    return [recording, *running.values()]
                yield recording, outcome
        return []
    except BaseException:  # Ctrl-C or the caller stopped: don't wait for the workers' current files
        workers_started = list(getattr(pool, "_processes", {}).values())  # this pool's, none of the caller's
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers_started:
            worker.terminate()
        for worker in workers_started:
            worker.join(timeout=5)
            if worker.is_alive():  # still loading (a loaded machine): seen once in a CI run of the tests
                worker.kill()
                worker.join(timeout=5)
        raise
    finally:
        pool.shutdown(wait=True)
        listener.stop()


@contextlib.contextmanager
def main_module_hidden() -> Iterator[None]:
    """Workers started meanwhile do not run the caller's script: a spawned process runs its parent's
    main module again (as `__mp_main__`), which in a script without an `if __name__ == "__main__":`
    guard would do the script's work once more in each worker, and fail where it starts workers.
    The workers need nothing of it: their models and tasks are speakerspot's own objects."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no file, no spec: nothing to run again
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class LogHere(logging.Handler):
    """Logs a record from a worker as if it had been logged in this process."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


worker_models: list[SpeakerModel] = []


def start_worker(models: list[SpeakerModel], threads: int, log_level: int,
                 log_records: multiprocessing.queues.Queue) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    # tqdm's lock for its (disabled) bars would be a semaphore shared between processes: one a worker stopped
    # by the parent (a batch that fails: an output it cannot write) never released, and Python warned of it.
    tqdm.set_lock(threading.RLock())
    to_parent = logging.handlers.QueueHandler(log_records)
    to_parent.setFormatter(logging.Formatter("%(message)s"))  # the parent's handlers format the record
    logging.basicConfig(level=log_level, handlers=[to_parent], force=True)
    torch.set_num_threads(threads)
    worker_models[:] = models


def scan_in_worker(path: Path, options: ScanOptions) -> Outcome:
    return scan_one(worker_models, path, options, decoder_process=False)  # the other workers use the other cores
