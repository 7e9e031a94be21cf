"""The one wait loop for AWS's long operations (package validation, endpoints, transform jobs,
change sets): describe, say the state each time it changes with the minutes elapsed, back off."""

from __future__ import annotations

import time
from typing import Callable


def poll_until(fetch: Callable[[], dict], *, state: Callable[[dict], str], done: Callable[[dict], bool],
               timeout: float, on_timeout: Callable[[dict], Exception], say=print, poll: float = 5.0,
               most: float = 60.0) -> dict:
    """Call `fetch` until `done` holds for its answer and return that answer; past `timeout`
    seconds, raise what `on_timeout` makes of the last answer. The wait grows 1.5x up to `most`."""
    started, last = time.monotonic(), None
    while True:
        answer = fetch()
        label = state(answer)
        elapsed = time.monotonic() - started
        if label != last:
            say(f"  [{elapsed / 60:5.1f} min] {label}")
            last = label
        if done(answer):
            return answer
        if elapsed > timeout:
            raise on_timeout(answer)
        time.sleep(poll)
        poll = min(poll * 1.5, most)
