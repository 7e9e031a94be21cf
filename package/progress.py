"""The one progress line for long steps (push, upload, transform): it redraws itself as
`label [#####....] 42% of 409 MB`, on stderr, and `close()` ends the line."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str, stream=sys.stderr):
        self.label, self.stream, self.last, self.drawn = label, stream, None, False

    def __call__(self, done: int, total: int) -> None:
        percent = min(100, int(100 * done / total)) if total else 100
        if (percent, total // 10**6) != self.last:
            self.last = (percent, total // 10**6)
            self.stream.write(f"\r  {self.label} [{'#' * (percent // 4)}{'.' * (25 - percent // 4)}] {percent:3d}% "
                              f"of {total / 1e6:.{0 if total >= 1e7 else 1}f} MB")
            self.stream.flush()
            self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
