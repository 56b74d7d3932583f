"""How many cores there are, and work spread over threads of our own."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_in_threads(function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
    """`function` over `items`, in order, on a thread per core.

    For numpy work on one signal at a time (making training audio), which runs mostly outside the
    GIL: on two cores an epoch of the dev set's clips took 0.81-0.85 s this way, 1.31-1.33 s on one
    thread (measured). `function` must not call torch: its threads are set per process, and torch
    work on top of these threads was measured slower (3.2 s for an epoch instead of 2.1).
    """
    threads = available_cores()
    if threads < 2 or len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


def made_on_a_thread(items: Generator[Item, None, None], ahead: int = 2) -> Iterator[Item]:
    """`items`, made on a thread of their own up to `ahead` items ahead of the caller, so that making
    the next one and using this one run side by side (torch computes outside the GIL). Their
    exceptions are raised here. `items` is advanced and closed on that thread only: a caller that
    stops early (an error, Ctrl-C) has it closed there, and waits at most for the item being made."""
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(ahead)
    stopped = threading.Event()

    def hand_on(kind: str, value: object = None) -> bool:
        """Put (kind, value) in the handoff unless the caller has stopped; whether it was put."""
        while not stopped.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            with contextlib.closing(items):
                if stopped.is_set():  # the caller stopped while this thread was starting: nothing to make
                    return
                for item in items:
                    if not hand_on("item", item):
                        return
        except BaseException as error:  # raised again on the caller's thread
            hand_on("error", error)
        else:
            hand_on("end")

    # Started inside the `try`: a Ctrl-C can land inside `start()`, before the thread counts as alive. The
    # `finally` then leaves it to stop itself, as it does when `stopped` is set before it runs; a daemon
    # thread left making items in torch when the interpreter exits aborts the process (C++ "terminate
    # called", 1 Ctrl-C in 4 at the very start of a scan, measured).
    thread = threading.Thread(target=make, name="speakerspot-ahead", daemon=True)
    try:
        thread.start()
        while True:
            kind, value = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stopped.set()
        if thread.is_alive():
            thread.join()
