"""`mpkit validate`: the static checks, the container checks and the batch replay, in one report."""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from inference_image.contract import MODEL_SPEC_FILE
from package import secrets, untar
from package.artifact import extract_model
from package.base_image import DEFAULT_BASE, resolve_base
from package.build import build, build_dir, prepared_record
from package.errors import ContainerError
from package.manifest import Manifest
from package.report import Check, Report, check
from package.runtime import recorded_versions
from package.untar import ArchiveUnsafe

from . import static_checks
from .container_checks import ContainerRun
from .transform import run_transform

# A caller's own checks, run with the static ones: (what to say, a function that returns checks).
ExtraChecks = Iterable[tuple[str, Callable[[], list[Check]]]]


def validate(manifest: Manifest, engine, *, image: str | None = None, model_archive: Path | None = None,
             output: Path, build_if_missing: bool = True, startup_timeout: float | None = None,
             extra_checks: ExtraChecks = (), say=print) -> Report:
    manifest.require_declared_files()  # before any container starts
    named = image
    image = image or manifest.image
    report = Report(subject={"name": manifest.name, "version": manifest.version, "manifest": str(manifest.path),
                             "image": image})
    say("static checks: manifest")
    report.add(*static_checks.manifest_checks(manifest))
    for label, run_checks in extra_checks:
        say(f"static checks: {label}")
        report.add(*run_checks())

    context = None
    if manifest.prebuilt and named is None:
        named = image = manifest.prebuilt.ref  # judged as it is, never built
        build_if_missing = False
    if named is None:
        # Never a stale verdict: the product's image as the manifest, model files, runtime and image
        # code make it now (an unchanged build is reused).
        image = build(manifest, engine=engine, say=say).image
    elif not engine.image_exists(image):
        if not build_if_missing:
            report.add(check("image", "the image exists", "SM-HOST", False, "missing", image,
                             "build or pull it" if manifest.prebuilt else "run `mpkit build`"))
            return report
        say(f"{image} is not built; building it")
        image = build(manifest, engine=engine, say=say).image
    if image == manifest.image:
        context = build_dir(manifest) / "context"
    info = engine.inspect(image)
    report.subject["image_id"] = info["Id"]
    if not manifest.prebuilt:  # an mpkit convention: the versions the model files were saved with
        report.add(static_checks.runtime_check(recorded_versions(manifest), installed_versions(engine, image),
                                               prepared_record(engine, image)))

    say("static checks: model archive, image configuration, downloads at start, secrets")
    with tempfile.TemporaryDirectory(prefix="mpkit-validate-") as tmp:
        model_dir, unpacked = None, True
        if model_archive is None and manifest.delivery == "s3":
            model_archive = manifest.prebuilt.model_archive if manifest.prebuilt else build_dir(manifest) / "model.tar.gz"
        if model_archive is not None:
            found = untar.scan(Path(model_archive))  # read once, for the checks and the unpack
            archive = archive_gate(manifest, Path(model_archive), found)
            report.add(*archive)
            unpacked = not any(c.status == "fail" for c in archive)
            if unpacked:
                try:
                    model_dir = extract_model(model_archive, Path(tmp) / "model", scanned=found)
                except ArchiveUnsafe as exc:  # e.g. no room here: the scan passed, the unpack did not
                    unpacked = False
                    report.add(check("model-archive-unpack", "the archive unpacks into a folder", "SM-HOST", False,
                                     str(exc), "unpacked", "free the space it needs, or make the archive smaller",
                                     exc.problems))
        report.add(*static_checks.image_checks(info, claims_pipeline=False))
        config = info["Config"] or {}
        argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        scripts = {}
        for path in static_checks.serve_path_files(argv):
            text = engine.read_file(image, path)
            if text is not None and (path.endswith((".sh", ".py")) or text.startswith("#!")):
                scripts[path] = text
        report.add(static_checks.downloads_check(argv, scripts))
        report.add(secrets_gate(engine, image, context))

        if not unpacked:
            # Never a pass with checks left out: the container checks that could not run fail.
            say("the model archive cannot be unpacked safely (the report says why); the container checks cannot run")
            report.add(check("container-checks", "the container checks ran (the image serving the model)", "SM-HOST",
                             False, "not run: the model archive could not be unpacked", "run",
                             "fix the model archive (see model-archive); every container check then runs"))
            return report
        client = resolve_base(engine, DEFAULT_BASE, say=say)
        run = ContainerRun(engine, image, manifest, model_dir, client, say=say,
                           **({"startup_timeout": startup_timeout} if startup_timeout else {}))
        run.run()
        report.add(*run.checks)
        report.performance = run.performance

        if manifest.validation and any(c.id == "startup" and c.status == "pass" for c in run.checks):
            report.batch = _batch(report, manifest, engine, image, model_dir, client, output, say)
    return report


def archive_gate(manifest: Manifest, archive: Path, found: untar.Scan | None = None) -> list:
    """The model archive's checks, which no flag skips (publish --skip-validate runs them too)."""
    # A prebuilt image's archive is in its own layout: only SageMaker's rules for unpacking apply.
    expected = [] if manifest.prebuilt else [MODEL_SPEC_FILE, *[p.name for p in manifest.model.files.values()]]
    return static_checks.archive_checks(archive, expected, found)


def secrets_gate(engine, image: str, context: Path | None) -> Check:
    """No credentials in the image's file system or its build context; no flag skips it."""
    files = static_checks.image_files(static_checks.read_stream(engine.export(image)))
    if context is not None and context.is_dir():
        files = itertools.chain(files, ((f"build context: {rel}", stream) for rel, stream in secrets.folder_files(context)))
    return static_checks.secrets_check(files)


def installed_versions(engine, image: str) -> dict | None:
    """Distribution -> version of what the image's python3 has installed; None if it cannot say."""
    code, output = engine.run_once(image, ["-c", static_checks.INSTALLED_PROGRAM], entrypoint=["python3"])
    try:
        return json.loads(output.strip().splitlines()[-1]) if code == 0 else None
    except (ValueError, IndexError):
        return None


def _batch(report: Report, manifest: Manifest, engine, image, model_dir, client, output: Path, say) -> dict:
    job = manifest.validation.job_definition()
    source = manifest.validation.input
    target = output / "batch-output"
    shutil.rmtree(target, ignore_errors=True)
    say(f"batch transform replay of the validation profile on {source.name}")
    try:
        result, offered, env = run_transform(engine, image, job, source, target, model_dir=model_dir, client_image=client,
                                             say=say)
    except ContainerError as exc:  # the job's own start failed (its variables differ from the real-time start's)
        report.add(check("batch-transform", "the validation profile's transform job succeeds (SageMaker's "
                         "certification is this job)", "MP-CREATE", False, "the job's container never answered /ping 200",
                         "all files", exc.hint or "run `mpkit transform-local` and read the container log",
                         str(exc).splitlines()[:20]))
        return None
    errors = [f"{Path(f.input).name}: {f.error}" for f in result.files if f.error]
    report.add(check("batch-transform", "the validation profile's transform job succeeds: one .out per input "
                     "file (SageMaker's certification is this job)", "MP-CREATE", result.ok and bool(result.files),
                     f"{sum(f.output is not None for f in result.files)}/{len(result.files)} files", "all files",
                     "run `mpkit transform-local` and read the container log; every mini-batch must answer 2xx", errors))
    short = [f"{Path(f.input).name}: {f.records_in} in, {f.records_out} out" for f in result.files
             if f.error is None and f.records_in != f.records_out]
    report.add(check("batch-record-count", "each output has one record per input record, in order", "SM-BT",
                     result.ok and not short, f"{sum(f.records_out for f in result.files)} of {result.records}",
                     result.records, "answer one output record per input record of a mini-batch (MultiRecord packs many)",
                     short))
    if offered is not None:
        keys = {"MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"}
        ok = keys <= set(offered) and offered.get("BatchStrategy") in ("MULTI_RECORD", "SINGLE_RECORD") \
            and isinstance(offered.get("MaxPayloadInMB"), int) and offered["MaxPayloadInMB"] <= 100
        report.add(check("execution-parameters", "GET /execution-parameters, when offered, gives MaxConcurrentTransforms, "
                         "BatchStrategy (MULTI_RECORD|SINGLE_RECORD) and MaxPayloadInMB (<= 100)", "SM-BATCH", ok,
                         json.dumps(offered), "the three keys", "return the three keys with valid values, or 404"))
    data = result.to_dict()
    data["environment"] = env
    data["execution_parameters"] = offered
    data["output"] = str(target)
    return data
