"""The model folder as the image sees it, and model.tar.gz built byte-for-byte reproducibly.

The folder holds the manifest's model files under their own names and the model's description
the server reads (contract.MODEL_SPEC_FILE, inference_image/spec.py). For S3 delivery the same folder is
packed with its files at the archive root (SageMaker extracts it into /opt/ml/model, SM-HOST):
sorted entries, owner 0, a fixed mtime and a gzip header without a timestamp, so the same files
always give the same sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from inference_image.contract import HANDLER_DIR, MODEL_SPEC_FILE
from inference_image.spec import Feature as SpecFeature
from inference_image.spec import ModelSpec

from . import untar
from .errors import ConfigurationError
from .manifest import Manifest, ManifestError

FIXED_MTIME = 0


def model_spec(manifest: Manifest) -> ModelSpec:
    """The model's description for the image, with file names as they sit in the folder."""
    model = manifest.model
    check_rows = ()
    if model.check_rows:
        path = manifest.require_file("model", "check_rows")
        try:
            check_rows = tuple(tuple(row) for row in json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{manifest.where('model', 'check_rows')}: model.check_rows: {path} is not JSON: {exc}") from None
    named = {"output_name": model.output_name} if model.output_name else {}
    if model.classifier:
        named.update(classifier=True, answer=model.answer, classes=model.classes)
    return ModelSpec(
        framework=model.framework,
        files={role: path.name for role, path in model.files.items()},
        features=tuple(SpecFeature(f.name, f.type, f.required, categories=f.categories or (), allow_unknown=f.allow_unknown)
                       for f in model.features),
        handler=f"{HANDLER_DIR}/{model.handler.name}" if model.handler else None,
        check_rows=check_rows,
        **named,
    )


def stage_model_dir(manifest: Manifest, target: Path) -> Path:
    """Copy the model files and write the model's description into `target` (emptied first)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    names: dict[str, str] = {}
    for role in manifest.model.files:
        source = manifest.require_file("model", "files", role)
        if source.name in names or source.name == MODEL_SPEC_FILE:
            raise ManifestError([f"{manifest.where('model', 'files', role)}: model.files.{role}: "
                                 f"file name {source.name!r} is used twice in the model folder"])
        names[source.name] = role
        shutil.copy2(source, target / source.name)
    if manifest.model.handler:
        handler = manifest.require_file("model", "handler")
        (target / HANDLER_DIR).mkdir()
        shutil.copy2(handler, target / HANDLER_DIR / handler.name)
    (target / MODEL_SPEC_FILE).write_text(model_spec(manifest).to_json())
    return target


def _entries(folder: Path):
    for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        yield path, path.relative_to(folder).as_posix()


def pack_model(folder: Path, output: Path) -> str:
    """Write folder's files at the root of a reproducible model.tar.gz; returns its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in _entries(folder):
            if path.is_symlink():
                raise ConfigurationError(f"{path} is a link; the model folder must hold plain files")
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = path.stat().st_size, 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as handle, gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=FIXED_MTIME, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return hashlib.sha256(output.read_bytes()).hexdigest()


def extract_model(archive: str | Path, target: Path, scanned: untar.Scan | None = None) -> Path:
    """Unpack model.tar.gz into `target` as SageMaker unpacks it into /opt/ml/model (SM-HOST),
    refusing (untar.ArchiveUnsafe) whatever would land outside it, before writing anything."""
    return untar.extract(Path(archive), target, scanned=scanned)
