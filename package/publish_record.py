"""The publish record: what a publish has made so far (ARNs, digests, S3 URIs, sha256s), written
after every step, so a run cut off anywhere leaves it and the next run carries on from it."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path


class PublishRecord:
    def __init__(self, path: Path, data: dict | None = None, persist: bool = True):
        self.path = path
        self.data = data or {"steps": {}}
        self.persist = persist  # a dry run reads the record and writes nothing

    @classmethod
    def load(cls, path: Path, persist: bool = True) -> "PublishRecord":
        if path.is_file():
            try:
                return cls(path, json.loads(path.read_text()), persist=persist)
            except json.JSONDecodeError:
                # A record is rewritten atomically, so this is a hand edit; keep it for the seller.
                if persist:
                    path.rename(path.with_suffix(".unreadable.json"))
        return cls(path, persist=persist)

    def step(self, name: str) -> dict:
        return self.data["steps"].get(name) or {}

    def done(self, name: str, **facts) -> None:
        """Record a finished step and write the record at once, atomically."""
        self.data["steps"][name] = {**facts, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.save()

    def set(self, **facts) -> None:
        self.data.update(facts)
        self.save()

    def save(self) -> None:
        if self.persist:
            write_json_atomically(self.path, self.data)


def write_json_atomically(path: Path, data) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)
