"""The one progress line for long steps (push, upload, transform), on stderr, shaped for where it
goes: `tty` redraws `label [#####....] 42% of 409 MB` in place; `plain` writes one line per 10%
(a CI log keeps every line, so no carriage returns); `none` writes nothing. `auto`, the default,
is `tty` on a terminal, else `plain`; a terminal with TERM=dumb, or one a CI runner allocated (`CI`
set, as GitHub Actions, GitLab and most runners set it), gets `plain` too. mpkit writes no colour
codes anywhere, so NO_COLOR holds by construction. The CLI sets the mode once (--progress; `none`
under --json)."""

from __future__ import annotations

import os
import sys

MODES = ("auto", "tty", "plain", "none")
_mode = "auto"


def set_mode(mode: str) -> None:
    global _mode
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {MODES}")
    _mode = mode


def resolved(stream) -> str:
    if _mode != "auto":
        return _mode
    interactive = (hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"
                   and os.environ.get("CI", "").lower() not in ("true", "1", "yes"))
    return "tty" if interactive else "plain"


class Progress:
    def __init__(self, label: str, stream=None):
        self.label, self.stream, self.last, self.drawn = label, stream or sys.stderr, None, False
        self.mode = resolved(self.stream)

    def __call__(self, done: int, total: int) -> None:
        percent = min(100, int(100 * done / total)) if total else 100
        size = f"{total / 1e6:.{0 if total >= 1e7 else 1}f} MB"
        if self.mode == "tty":
            if (percent, total // 10**6) != self.last:
                self.last = (percent, total // 10**6)
                self.stream.write(f"\r  {self.label} [{'#' * (percent // 4)}{'.' * (25 - percent // 4)}] {percent:3d}% of {size}")
                self.stream.flush()
                self.drawn = True
        elif self.mode == "plain":
            step = (percent // 10, total // 10**6)
            if step != self.last:
                self.last = step
                self.stream.write(f"  {self.label}: {percent}% of {size}\n")
                self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
