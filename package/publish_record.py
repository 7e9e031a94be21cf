"""The publish record: what a publish has made so far (ARNs, digests, S3 URIs, sha256s), written
after every step, so a run cut off anywhere leaves it and the next run carries on from it.

Each step's facts have one typed definition here; the publisher writes them, the listing and
the buyer side read them, through the same types. The file is JSON:
`{"package_name", "account", "region", "target", "steps": {STEP: {...facts, "at"}}}`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

TARGETS = ("local", "emulator", "aws")


@dataclass(frozen=True)
class Step:
    """A finished step. `name` is its key in the record; `at` when it finished."""

    name: ClassVar[str] = ""
    at: str | None = None

    @classmethod
    def from_dict(cls, data: dict | None):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "at"}

    def __bool__(self) -> bool:
        return self.at is not None


@dataclass(frozen=True)
class BuildStep(Step):
    name: ClassVar[str] = "build"
    image_id: str | None = None
    content_hash: str | None = None
    tag: str | None = None  # VERSION-CONTENTHASH
    model_sha256: str | None = None


@dataclass(frozen=True)
class ValidationStep(Step):
    name: ClassVar[str] = "validation"
    image_id: str | None = None
    inputs: str | None = None  # sha256 of the manifest and the files it names
    passed: bool = False
    report: str | None = None  # validation.json
    summary: dict = field(default_factory=dict)
    batch_ok: bool = False
    batch_records: int | None = None


@dataclass(frozen=True)
class RepositoryStep(Step):
    name: ClassVar[str] = "repository"
    uri: str | None = None
    arn: str | None = None


@dataclass(frozen=True)
class ImageStep(Step):
    name: ClassVar[str] = "image"
    uri: str | None = None  # repository@sha256:... once pushed
    digest: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class ScanStep(Step):
    name: ClassVar[str] = "scan"
    digest: str | None = None
    status: str | None = None
    counts: dict = field(default_factory=dict)
    clean: bool = False


@dataclass(frozen=True)
class UploadStep(Step):
    """An S3 upload; the record keys it by its label (model_artifact, validation_input)."""

    uri: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class PackageStep(Step):
    name: ClassVar[str] = "package"
    arn: str | None = None
    request_sha256: str | None = None
    client_token: str | None = None
    existing: bool = False  # found published with the same inputs


@dataclass(frozen=True)
class ReleaseStep(Step):
    """This version released on AWS Marketplace (`mpkit release --apply`); the product's own
    record is listing/release_record.py."""
    name: ClassVar[str] = "release"
    product_id: str | None = None
    offer_id: str | None = None
    delivery_option_id: str | None = None
    change_set_id: str | None = None


def utc_now() -> str:
    """When a record entry was written: UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JsonRecord:
    """A record kept as one JSON file under `.mpkit/<KIND>/<target>/`, rewritten atomically after
    every change, so a run cut off anywhere carries on from it. With `persist=False` (a dry run)
    it is read and never written."""

    KIND: ClassVar[str]
    SECTIONS: ClassVar[tuple] = ()  # top-level keys that always hold a dict

    def __init__(self, path: Path, data: dict | None = None, persist: bool = True):
        self.path = path
        self._data = data or {}
        for key in self.SECTIONS:
            self._data.setdefault(key, {})
        self.persist = persist

    @classmethod
    def path_for(cls, root: Path, name: str, target: str) -> Path:
        """Where the record of `name` for a target (local, emulator, aws) is kept."""
        return record_path(root, cls.KIND, target, name)

    @classmethod
    def load(cls, path: Path, persist: bool = True):
        return cls(path, read_record(path, persist), persist=persist)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self._data, default=str))

    def save(self) -> None:
        if self.persist:
            write_json_atomically(self.path, self._data)


class PublishRecord(JsonRecord):
    """What `mpkit publish` has done for one package and target, step by step."""

    KIND = "publish"
    SECTIONS = ("steps",)

    # ---- what the record says
    @property
    def package_name(self) -> str | None:
        return self._data.get("package_name")

    @property
    def region(self) -> str | None:
        return self._data.get("region")

    @property
    def build(self) -> BuildStep:
        return self._step(BuildStep)

    @property
    def validation(self) -> ValidationStep:
        return self._step(ValidationStep)

    @property
    def repository(self) -> RepositoryStep:
        return self._step(RepositoryStep)

    @property
    def image(self) -> ImageStep:
        return self._step(ImageStep)

    @property
    def scan(self) -> ScanStep:
        return self._step(ScanStep)

    @property
    def package(self) -> PackageStep:
        return self._step(PackageStep)

    @property
    def release(self) -> ReleaseStep:
        return self._step(ReleaseStep)

    def upload(self, label: str) -> UploadStep:
        return UploadStep.from_dict(self._data["steps"].get(label))

    def _step(self, kind: type[Step]):
        return kind.from_dict(self._data["steps"].get(kind.name))

    # ---- writing it
    def done(self, step: Step, key: str | None = None) -> None:
        """Record a finished step and write the record at once, atomically."""
        self._data["steps"][key or step.name] = {**step.to_dict(), "at": utc_now()}
        self.save()

    def set(self, *, package_name: str, account: str, region: str, target: str) -> None:
        self._data.update(package_name=package_name, account=account, region=region, target=target)
        self.save()


def record_path(root: Path, kind: str, target: str, name: str) -> Path:
    """`.mpkit/<kind>/<target>/<name>.json`: where the publish and release records live."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {TARGETS}")
    return root / ".mpkit" / kind / target / f"{name}.json"


def read_record(path: Path, persist: bool) -> dict | None:
    """A record's data; None when there is none. A record is rewritten atomically, so one that is
    not JSON is a hand edit: it is kept for the seller (renamed) and the run starts afresh."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        if persist:
            path.rename(path.with_suffix(".unreadable.json"))
        return None


def write_json_atomically(path: Path, data) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)
