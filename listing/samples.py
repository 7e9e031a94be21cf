"""Sample inputs and outputs for the listing, the outputs produced by the real image: each
real-time sample sent to the image run as SageMaker runs it (networking off), and the batch
sample put through the validation profile's transform replay."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from inference_image.contract import CSV, JSON, JSONLINES
from package.base_image import DEFAULT_BASE, resolve_base
from package.build import mounted_model
from package.errors import ConfigurationError, ContainerError
from package.manifest import Manifest
from validation.transform import run_transform

EXTENSIONS = {CSV: "csv", JSON: "json", JSONLINES: "jsonl"}


@dataclass
class SampleFile:
    kind: str  # realtime | batch
    input: str  # path inside the listing folder
    output: str
    content_type: str
    accept: str

    def to_dict(self) -> dict:
        return asdict(self)


def extension(media_type: str) -> str:
    return EXTENSIONS.get(media_type, media_type.split("/")[-1].split("+")[-1])


def write_samples(manifest: Manifest, engine, image: str, folder: Path, say=print) -> list[SampleFile]:
    if not manifest.samples:
        raise ConfigurationError(f"{manifest.where('samples')}: the manifest lists no samples",
                                 hint="add samples: a file per input content type (MP-REQ asks for real-time samples)")
    if manifest.validation is None:
        raise ConfigurationError(f"{manifest.where()}: the manifest has no validation profile, so no batch sample",
                                 hint="add `validation:`; its input is the batch sample")
    for s in manifest.samples:
        if not s.file.is_file():
            raise ConfigurationError(f"{s.file}: sample file not found", hint="run the training script that writes the samples")
    default_accept = manifest.serving.default_accept
    realtime = folder / "samples" / "realtime"
    batch = folder / "samples" / "batch"
    for path in (realtime, batch):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    written: list[SampleFile] = []
    client = resolve_base(engine, DEFAULT_BASE, say=say)
    with mounted_model(manifest, prefix="mpkit-listing-") as model_dir:
        say(f"sample outputs: running {image} as SageMaker does (networking off)")
        with engine.serve(image, model_dir=model_dir, client_image=client) as container:
            container.wait_ready()
            for sample in manifest.samples:
                accept = sample.accept or default_accept
                source = _unique(realtime / sample.file.name)
                shutil.copyfile(sample.file, source)
                reply = container.invoke(sample.file.read_bytes(), sample.content_type, accept)
                if reply.status != 200:
                    raise ContainerError(f"{sample.file.name}: the image answered {reply.status or reply.error}: "
                                         f"{reply.body[:300]!r}", hint="run `mpkit predict` and `mpkit validate`")
                target = _unique(realtime / f"output-{extension(sample.content_type)}.{extension(accept)}")
                target.write_bytes(reply.body)
                written.append(SampleFile("realtime", _rel(source, folder), _rel(target, folder), sample.content_type, accept))
                say(f"  {sample.file.name} ({sample.content_type}) -> {target.name} ({accept})")
            container.stop()

        job = manifest.validation.job_definition()
        original = manifest.validation.input
        source = batch / original.name
        shutil.copyfile(original, source)
        # A single-file source: the replay writes <name>.out beside it.
        result, _, _ = run_transform(engine, image, job, source, batch, model_dir=model_dir, client_image=client, say=say)
        if not result.ok or not result.files:
            errors = "; ".join(f.error for f in result.files if f.error) or "no output"
            raise ContainerError(f"the batch sample's transform failed: {errors}", hint="run `mpkit transform-local`")
        out = Path(result.files[0].output)
        accept = job.get("Accept") or default_accept
        written.append(SampleFile("batch", _rel(source, folder), _rel(out, folder), job["ContentType"], accept))
        say(f"  {source.name} ({job['ContentType']}, {result.records} records) -> {out.name} ({accept})")
    return written


def _unique(path: Path) -> Path:
    """The path, or PATH-2, PATH-3... when two samples would share a name."""
    n, candidate = 1, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _rel(path: Path, folder: Path) -> str:
    return path.resolve().relative_to(folder.resolve()).as_posix()
