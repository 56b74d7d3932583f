"""Work made on a thread of its own, beside the caller's."""

from __future__ import annotations

import threading

import pytest

from speakerspot.threads import made_on_a_thread


def test_items_come_in_order_made_on_another_thread():
    makers = []

    def numbers():
        for number in range(50):
            makers.append(threading.get_ident())
            yield number

    assert list(made_on_a_thread(numbers(), ahead=3)) == list(range(50))
    assert set(makers) and threading.get_ident() not in makers


def test_an_error_while_making_is_raised_to_the_caller_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise ValueError("damaged")

    received = []
    with pytest.raises(ValueError, match="damaged"):
        for item in made_on_a_thread(failing()):
            received.append(item)
    assert received == [1, 2]


def test_a_caller_that_stops_early_has_the_items_closed_on_their_thread():
    closed_on = []

    def endless():
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed_on.append(threading.get_ident())

    items = made_on_a_thread(endless(), ahead=2)
    assert next(items) == 0
    items.close()
    assert len(closed_on) == 1 and closed_on[0] != threading.get_ident()
