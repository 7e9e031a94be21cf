"""`mpkit build`: the model folder (and model.tar.gz for S3 delivery), then the image."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from inference_image.contract import SERVING_CONFIG_FILE

from .artifact import extract_model, pack_model, stage_model_dir
from .base_image import DEFAULT_BASE, resolve_base
from .docker_engine import Engine
from .errors import ConfigurationError
from .manifest import Manifest
from .wheelhouse import REQUIREMENTS, ensure_wheelhouse

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_CODE = ROOT / "inference_image"


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
    archive = build_dir(manifest) / "model.tar.gz"
    if not archive.is_file():
        raise ConfigurationError(f"{archive} is missing", hint="run `mpkit build` first")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield extract_model(archive, Path(tmp))


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


def stage_context(manifest: Manifest, wheelhouse: Path, model_dir: Path, context: Path) -> str:
    """Lay out the build context; returns a hash of everything in it (the content tag)."""
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, context / "Dockerfile")
    shutil.copy2(REQUIREMENTS, context / "requirements.txt")
    _link_tree(wheelhouse, context / "wheelhouse")
    shutil.copytree(IMAGE_CODE, context / "inference_image", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"))
    (context / SERVING_CONFIG_FILE).write_text(manifest.serving.config().to_json())
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


def build(manifest: Manifest, base_image: str = DEFAULT_BASE, engine: Engine | None = None, say=print) -> BuildResult:
    engine = engine or Engine()
    out = build_dir(manifest)
    say(f"model folder for {manifest.name} {manifest.version} ({manifest.delivery} delivery)")
    model_dir = stage_model_dir(manifest, out / "model")
    model_tar, sha = None, None
    if manifest.delivery == "s3":
        model_tar = out / "model.tar.gz"
        sha = pack_model(model_dir, model_tar)
        say(f"  {model_tar} sha256 {sha[:16]}...")
    wheelhouse = ensure_wheelhouse(say=say)
    base = resolve_base(engine, base_image, say=say)
    content = stage_context(manifest, wheelhouse, model_dir, out / "context")
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
    return BuildResult(
        image=tags[0], image_id=image_id, tags=tags, size_bytes=int(info["Size"]), base_image=base,
        delivery=manifest.delivery, model_dir=str(model_dir), model_tar=str(model_tar) if model_tar else None,
        model_sha256=sha, architecture=f"{info.get('Os')}/{info.get('Architecture')}",
        entrypoint=info["Config"].get("Entrypoint") or [], content_hash=content, reused=reused,
    )


def content_tag(manifest: Manifest, content_hash: str) -> str:
    """The image tag that names one build context: the version and 12 hex digits of its hash."""
    return f"{manifest.image}-{content_hash[:12]}"
