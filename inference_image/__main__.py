"""The container's entry point: `serve` runs the model server; `train` is refused plainly;
`prepare` is the image's own build step (prepare.py), run by the Dockerfile."""

from __future__ import annotations

import sys

from . import prepare
from .loaders import LoadError
from .server import serve
from .settings import SettingsError

USAGE = "usage: <image> serve   (this image serves a trained model; it does not train)"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    if command == "serve":
        try:
            serve()
        except (SettingsError, LoadError, FileNotFoundError) as exc:
            print(f"mpkit-serve: cannot start: {exc}", file=sys.stderr, flush=True)
            return 2
        return 0
    if command == "prepare":
        return prepare.main(argv[1:])
    if command == "train":
        print("mpkit-serve: `train` is not supported: this is an inference image with the model already "
              "trained; train elsewhere and build the image with `mpkit build`.", file=sys.stderr, flush=True)
        return 64
    print(f"mpkit-serve: unknown command {command!r}\n{USAGE}", file=sys.stderr, flush=True)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
