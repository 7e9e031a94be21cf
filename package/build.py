"""`mpkit build`: the model folder (and model.tar.gz for S3 delivery), then the image."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import inference_image
from inference_image.contract import PREPARE_REQUEST_FILE, PREPARED_RECORD_PATH, SERVING_CONFIG_FILE

from . import secrets
from .artifact import extract_model, pack_model, stage_model_dir
from .base_image import DEFAULT_BASE, resolve_base
from .docker_engine import Engine
from .errors import BuildError, ConfigurationError
from .manifest import Manifest
from .runtime import resolve as resolve_runtime
from .wheelhouse import cache_root, ensure_wheelhouse

# Package data, so an installed mpkit builds without a checkout: in the repository,
# package/Dockerfile is a link to the Dockerfile at its root.
DOCKERFILE = Path(__file__).resolve().with_name("Dockerfile")
IMAGE_CODE = Path(inference_image.__file__).resolve().parent


@dataclass
class BuildResult:
    image: str
    image_id: str
    tags: list
    size_bytes: int
    base_image: str
    delivery: str
    model_dir: str
    model_tar: str | None
    model_sha256: str | None
    architecture: str
    entrypoint: list
    content_hash: str = ""
    reused: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def build_dir(manifest: Manifest) -> Path:
    return Path(os.environ.get("MPKIT_BUILD_DIR", manifest.root / "build")) / manifest.name


@contextlib.contextmanager
def mounted_model(manifest: Manifest, prefix: str = "mpkit-model-") -> Iterator[Path | None]:
    """For S3 delivery, the real model.tar.gz extracted (for as long as the block runs) as
    SageMaker extracts it to /opt/ml/model; None when the model is baked into the image."""
    if manifest.delivery != "s3":
        yield None
        return
    archive = manifest.prebuilt.model_archive if manifest.prebuilt else build_dir(manifest) / "model.tar.gz"
    if not archive.is_file():
        raise ConfigurationError(f"{archive} is missing", hint="run `mpkit build` first")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield extract_model(archive, Path(tmp))


def current_image(manifest: Manifest, engine: Engine, image: str | None = None, say=print) -> str:
    """The image to run: the one named, which must exist; else the product's image built from the
    current manifest, model files, runtime and image code (an unchanged build is reused, never a
    stale one)."""
    if image:
        return require_image(engine, image)
    if manifest.prebuilt:
        return require_image(engine, manifest.prebuilt.ref, hint=f"build or pull it; {manifest.where('image', 'ref')} names it")
    return build(manifest, engine=engine, say=say).image


def require_image(engine: Engine, image: str, hint: str = "run `mpkit build` first") -> str:
    """The image, when the engine has it; a ConfigurationError that says how to make it otherwise."""
    if not engine.image_exists(image):
        raise ConfigurationError(f"image {image} does not exist", hint=hint)
    return image


def _link_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if item.name.startswith("."):
            continue
        try:
            os.link(item, target / item.name)
        except OSError:
            shutil.copy2(item, target / item.name)


# What the image's build step (inference_image/prepare.py) may leave out when the model it serves
# needs none of it: scikit-learn (and what only it needs), which only a scikit-learn model or
# featurizer uses, and setuptools, which only a seller's code might (pkg_resources). pandas
# stays: it reads large CSV bodies about 2.5 times faster than NumPy can (codecs.py).
MAY_LEAVE_OUT = ("scikit-learn", "setuptools")


def may_remove(manifest: Manifest, runtime) -> list[str]:
    """What the build step may leave out: nothing when a seller's handler or requirements may
    import it (the step cannot see what a seller's code imports)."""
    if manifest.model.handler or runtime.extra_requirements or manifest.model.framework == "custom":
        return []
    return list(MAY_LEAVE_OUT)


def stage_context(manifest: Manifest, requirements: str, wheelhouse: Path, model_dir: Path, context: Path,
                  removable: list[str] = ()) -> str:
    """Lay out the build context; returns a hash of everything in it (the content tag)."""
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, context / "Dockerfile")
    (context / "requirements.txt").write_text(requirements)
    (context / PREPARE_REQUEST_FILE).write_text(json.dumps({"may_remove": list(removable)}) + "\n")
    _link_tree(wheelhouse, context / "wheelhouse")
    shutil.copytree(IMAGE_CODE, context / "inference_image", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"))
    (context / SERVING_CONFIG_FILE).write_text(manifest.serving.config(metering=manifest.pricing.metered).to_json())
    if manifest.delivery == "image":
        shutil.copytree(model_dir, context / "model")
    else:
        (context / "model").mkdir()
        (context / "model" / ".s3-delivery").write_text("the model comes from ModelDataUrl, extracted to /opt/ml/model\n")
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def refuse_secrets(context: Path, model_dir: Path | None) -> None:
    """What would ship to every buyer, scanned before the image is made: the build context, and
    for S3 delivery the model.tar.gz's folder. A finding stops the build (MP-SEC)."""
    files = secrets.folder_files(context)
    if model_dir is not None:
        files = itertools.chain(files, ((f"model.tar.gz: {rel}", stream) for rel, stream in secrets.folder_files(model_dir)))
    found = list(secrets.findings(files))
    if found:
        raise BuildError("credentials or keys would ship in the image or the model archive (MP-SEC); nothing was "
                         "built:\n  " + "\n  ".join(found),
                         hint="remove them from the product folder (a buyer can read every file); rotate any key "
                              "that was ever built or committed")


def build(manifest: Manifest, base_image: str = DEFAULT_BASE, engine: Engine | None = None, say=print) -> BuildResult:
    if manifest.prebuilt:
        raise ConfigurationError(f"{manifest.where('image')}: the manifest names a prebuilt image ({manifest.prebuilt.ref}); "
                                 "mpkit builds only the images of products it describes",
                                 hint="`mpkit validate` and `mpkit predict` run the prebuilt image as it is")
    engine = engine or Engine()
    out = build_dir(manifest)
    # The runtime first: a version that contradicts the model files stops the build before anything is staged.
    base = resolve_base(engine, base_image, say=say)
    runtime = resolve_runtime(manifest, base_python(engine, base))
    say(f"model folder for {manifest.name} {manifest.version} ({manifest.delivery} delivery)")
    model_dir = stage_model_dir(manifest, out / "model")
    model_tar, sha = None, None
    if manifest.delivery == "s3":
        model_tar = out / "model.tar.gz"
        sha = pack_model(model_dir, model_tar)
        say(f"  {model_tar} sha256 {sha[:16]}...")
    requirements = runtime.requirements()
    wheelhouse = ensure_wheelhouse(requirements, runtime.python, say=say)
    say("runtime: Python " + runtime.python + "".join(f", {lib} {v} ({runtime.sources[lib]})" for lib, v in runtime.packages.items()))
    content = stage_context(manifest, requirements, wheelhouse, model_dir, out / "context", may_remove(manifest, runtime))
    refuse_secrets(out / "context", model_dir if model_tar else None)
    content = hashlib.sha256(f"{content} {base}".encode()).hexdigest()
    tags = [manifest.image, content_tag(manifest, content)]
    reused = engine.image_exists(tags[1])
    if reused:
        # The content tag names exactly this context on this base: nothing to build.
        image_id = engine.inspect(tags[1])["Id"]
        engine.tag(image_id, tags[0])
        say(f"reusing {tags[1]}: already built from this exact context")
    else:
        say(f"building {tags[0]} on {base} with networking off ...")
        image_id = engine.build(out / "context", tags, {"BASE_IMAGE": base}, say=say)
    info = engine.inspect(image_id)
    say(f"{'image' if reused else 'built'} {tags[0]} ({info['Size'] / 1e6:.0f} MB)")
    prepared = prepared_record(engine, image_id)
    if prepared:
        say("  " + describe_prepared(prepared))
    return BuildResult(
        image=tags[0], image_id=image_id, tags=tags, size_bytes=int(info["Size"]), base_image=base,
        delivery=manifest.delivery, model_dir=str(model_dir), model_tar=str(model_tar) if model_tar else None,
        model_sha256=sha, architecture=f"{info.get('Os')}/{info.get('Architecture')}",
        entrypoint=info["Config"].get("Entrypoint") or [], content_hash=content, reused=reused,
    )


def prepared_record(engine: Engine, image: str) -> dict | None:
    """What the image's build step did (PREPARED_RECORD_PATH); None for an image without one."""
    text = engine.read_file(image, PREPARED_RECORD_PATH)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def describe_prepared(record: dict) -> str:
    featurizer = record.get("featurizer") or {}
    parts = []
    if featurizer.get("compiled"):
        parts.append("featurizer compiled at build, equal to scikit-learn "
                     f"{featurizer['verified_with'].get('scikit-learn')} on the check rows")
    elif featurizer:
        parts.append(f"featurizer served by scikit-learn ({featurizer.get('why')})")
    removed = record.get("removed") or {}
    if removed:
        parts.append("left out of the image (the model needs none of them): " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    elif record.get("kept"):
        parts.append(f"every default library kept: {record['kept']}")
    return "; ".join(parts)


def base_python(engine: Engine, base: str) -> str:
    """The base image's Python as major.minor: from its PYTHON_VERSION (the official images), else
    by asking its python3 once per image (the answer is kept by image ID: every build asks)."""
    info = engine.inspect(base)
    env = dict(item.split("=", 1) for item in (info["Config"] or {}).get("Env") or [] if "=" in item)
    if env.get("PYTHON_VERSION"):
        return ".".join(env["PYTHON_VERSION"].split(".")[:2])
    kept = cache_root() / "base-python" / info["Id"].replace(":", "-")
    if kept.is_file():
        return kept.read_text().strip()
    code, output = engine.run_once(base, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], entrypoint=["python3"])
    if code != 0:
        raise ConfigurationError(f"the base image {base} has no python3 that answers: {output.strip()[-300:]}",
                                 hint="use a base image with Python 3 (python:3.X-slim, or Debian with python3-venv)")
    version = output.strip().splitlines()[-1]
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(version + "\n")
    return version


def content_tag(manifest: Manifest, content_hash: str) -> str:
    """The image tag that names one build context: the version and 12 hex digits of its hash."""
    return f"{manifest.image}-{content_hash[:12]}"
