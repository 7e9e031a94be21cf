"""Checks that need no running container: the manifest against the API's own constraints, the
model.tar.gz layout, the image's configuration, downloads at start, and secrets."""

from __future__ import annotations

import difflib
import io
import re
import shlex
import tarfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

from package import rules, secrets, untar
from package.manifest import dotted
from package.report import Check, check

MEDIA = re.compile(r"^[a-zA-Z0-9][-\w.+]*/[-\w.+]+$")
DOWNLOADERS = re.compile(r"\b(pip3?|conda|mamba|apt-get|apt|yum|dnf|apk|curl|wget)\b\s+(install|-[-\w]*|https?://|add|update)|"
                         r"\bpython3?\s+-m\s+pip\b|requirements\.txt|\bgit\s+clone\b")
# Files the distribution and the Python packages own: scanned by name, not by content.
SYSTEM_PREFIXES = ("usr/", "lib/", "lib64/", "bin/", "sbin/", "etc/ssl/", "var/lib/dpkg/", "var/cache/", "opt/venv/lib/",
                   "proc/", "sys/", "dev/")


def packaged(rel: str) -> bool:
    """A file of the distribution's or of an installed Python package (wherever its venv is)."""
    return rel.startswith(SYSTEM_PREFIXES) or "/site-packages/" in rel or "/dist-packages/" in rel


@lru_cache(maxsize=None)
def instance_enums() -> dict[str, frozenset]:
    """The instance-type enums from botocore's SageMaker service model (API), not a copied list."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return {name: frozenset(model.shape_for(name).enum) for name in ("TransformInstanceType", "ProductionVariantInstanceType")}


def manifest_checks(manifest) -> list[Check]:
    """The manifest against the API's own constraints. A failing check's details are located
    lines (`file:line: field: what`), so `manifest_errors` can print them as user errors."""
    where = manifest.where
    out = []
    name = manifest.package_name
    lo, hi = rules.MODEL_PACKAGE_NAME_LENGTH
    name_ok = bool(re.match(rules.MODEL_PACKAGE_NAME_PATTERN, name)) and lo <= len(name) <= hi
    out.append(check("model-package-name", "ModelPackageName (name-version) is 1-63 letters, digits and inner hyphens",
                     "API", name_ok, name, rules.MODEL_PACKAGE_NAME_PATTERN, "shorten the name or the version",
                     [] if name_ok else [f"{where('name')}: name: {name!r} with the version makes {len(name)} characters "
                                         f"in ModelPackageName (at most {hi}; letters, digits and inner hyphens)"]))
    enums = instance_enums()
    bad = []
    for kind, enum in (("realtime", "ProductionVariantInstanceType"), ("batch", "TransformInstanceType")):
        for i, t in enumerate(getattr(manifest.instance_types, kind)):
            if t not in enums[enum]:
                bad.append(f"{where('instance_types', kind, i)}: instance_types.{kind}[{i}]: {t!r} is not a {enum}"
                           + did_you_mean(t, enums[enum]))
    validation = manifest.validation
    if validation and validation.instance_type not in enums["TransformInstanceType"]:
        bad.append(f"{where('validation', 'instance_type')}: validation.instance_type: {validation.instance_type!r} "
                   "is not a TransformInstanceType" + did_you_mean(validation.instance_type, enums["TransformInstanceType"]))
    out.append(check("instance-types", "every instance type is a member of the API's enum (real-time: "
                     "ProductionVariantInstanceType; batch and validation: TransformInstanceType)", "API", not bad,
                     f"{len(bad)} unknown", "0 unknown",
                     "use a type from the enum (no Graviton for batch); `aws sagemaker` lists them per region", bad))
    serving = manifest.serving
    media = [(("serving", "content_types", i), m) for i, m in enumerate(serving.content_types)]
    media += [(("serving", "accept_types", i), m) for i, m in enumerate(serving.accept_types)]
    if validation:
        media += [(("validation", key), getattr(validation, key)) for key in ("content_type", "accept")]
    malformed = [f"{where(*path)}: {dotted(path)}: {m!r} is not a type/subtype media type"
                 for path, m in media if m and not MEDIA.match(m)]
    out.append(check("content-type-format", "content types are well-formed type/subtype values", "API", not malformed,
                     f"{len(malformed)} malformed", "type/subtype", "write them as e.g. text/csv", malformed))
    out.append(check("validation-profile", "exactly one validation profile", rules.VALIDATION_PROFILES.source,
                     bool(validation), 1 if validation else 0, 1,
                     "add a `validation:` section (the batch job AWS runs to certify the package)",
                     [] if validation else [f"{where()}: validation: missing; AWS Marketplace needs one validation profile"]))
    if not validation:
        return out
    payload = validation.max_payload_mb if validation.max_payload_mb is not None else rules.BATCH_DEFAULTS["MaxPayloadInMB"]
    concurrency = validation.max_concurrent_transforms or 1

    def limited(id, rule, ok, measured, limit, field_path, what, hint):
        located = [] if ok else [f"{where(*field_path)}: {dotted(field_path)}: {what}"]
        return check(id, rule.text, rule.source, ok, measured, limit, hint, located)

    out.append(limited("batch-payload", rules.BATCH_PAYLOAD_MB, payload <= rules.BATCH_PAYLOAD_MB.value, payload,
                       rules.BATCH_PAYLOAD_MB.value, ("validation", "max_payload_mb"),
                       f"{payload} MB is over the {rules.BATCH_PAYLOAD_MB.value} MB MaxPayloadInMB limit", "lower max_payload_mb"))
    product = payload * concurrency
    out.append(limited("batch-payload-x-concurrency", rules.BATCH_PAYLOAD_X_CONCURRENCY_MB,
                       product <= rules.BATCH_PAYLOAD_X_CONCURRENCY_MB.value, product,
                       rules.BATCH_PAYLOAD_X_CONCURRENCY_MB.value, ("validation", "max_concurrent_transforms"),
                       f"{concurrency} x {payload} MB = {product} MB is over {rules.BATCH_PAYLOAD_X_CONCURRENCY_MB.value} MB",
                       "lower max_concurrent_transforms or max_payload_mb"))
    split = validation.split_type or "None"
    strategy = validation.batch_strategy
    split_ok = not (strategy and split == "None")
    out.append(check("batch-strategy-split", "a BatchStrategy needs a SplitType other than None", "API", split_ok,
                     f"{strategy or '-'} with SplitType {split}", "SplitType Line",
                     "set split_type: Line, or drop batch_strategy",
                     [] if split_ok else [f"{where('validation', 'batch_strategy')}: validation.batch_strategy: {strategy} "
                                          f"with split_type {split}"]))
    env = validation.environment
    out.append(limited("transform-environment", rules.TRANSFORM_ENVIRONMENT_ENTRIES,
                       len(env) <= rules.TRANSFORM_ENVIRONMENT_ENTRIES.value, len(env),
                       rules.TRANSFORM_ENVIRONMENT_ENTRIES.value, ("validation", "environment"),
                       f"{len(env)} entries, at most {rules.TRANSFORM_ENVIRONMENT_ENTRIES.value}", "bake settings into the image"))
    role = validation.role
    if role is None:
        out.append(check("validation-role", "ValidationRole is a full IAM role ARN", "API", False, "not set",
                         "arn:aws:iam::<account>:role/<name>", "set validation.role (needed by `mpkit publish`)", warn_only=True))
    else:
        lo, hi = rules.ROLE_ARN_LENGTH
        ok = bool(re.match(rules.ROLE_ARN_PATTERN, role)) and lo <= len(role) <= hi
        suggestion = f"arn:aws:iam::123456789012:role/{role.rsplit('/', 1)[-1]}"
        out.append(check("validation-role", "ValidationRole is a full IAM role ARN, not a role name", "API", ok, role,
                         "arn:aws:iam::<12-digit account>:role/<name>",
                         f"give the role's ARN with your account's ID, e.g. {suggestion} (aws/amazon-sagemaker-examples#4843)",
                         [] if ok else [f"{where('validation', 'role')}: validation.role: {role!r} is not a role ARN"]))
    return out


def did_you_mean(value: str, choices) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def manifest_errors(manifest) -> list[str]:
    """The manifest's breaches of the API's rules as user errors: one located line per mistake,
    each with its fix, for the commands to refuse at exit 2 before any container or AWS call."""
    problems = []
    for c in manifest_checks(manifest):
        if c.status != "fail":
            continue
        for line in c.details or [f"{manifest.path}:1: {c.id}: {c.measured}"]:
            problems.append(f"{line}\n    fix: {c.hint} (rule {c.id}, source {c.source})")
    return problems


# Past this many files an archive is slow to download and unpack on every instance that starts:
# advice of mpkit's, not a SageMaker rule (a warning).
MANY_FILES = 10_000


def archive_checks(archive: Path, expected: list[str], found: untar.Scan | None = None) -> list[Check]:
    """model.tar.gz: unpackable as SageMaker unpacks it (read once as a stream, nothing written;
    see package/untar.py), within the batch volume, with the files at the archive root. `found`
    is the archive's scan when the caller made it to unpack the archive next."""
    found = found or untar.scan(archive)
    problems = list(found.problems)
    if found.ok:
        files = set(found.names)
        missing = [e for e in expected if e not in files]
        if missing:
            nested = [n for n in files if any(n.endswith("/" + e) for e in missing)]
            problems.append(f"missing at the archive root: {', '.join(missing)}"
                            + (f" (found {', '.join(sorted(nested)[:3])}: an extra top folder)" if nested else ""))
    tops = sorted({n.split("/", 1)[0] for n in found.names})
    size = archive.stat().st_size if archive.is_file() else 0
    measured = f"{size} bytes, {found.members} members, {found.bytes} bytes unpacked, top level: {', '.join(tops[:5]) or '-'}"
    out = [check("model-archive", "model.tar.gz unpacks safely as SageMaker unpacks it into /opt/ml/model: a tar "
                 "archive, whole, with no absolute paths, no `..`, no links out (through other links too), names "
                 "the file system takes, at most the 30 GB batch volume unpacked, and the model files at its root",
                 "SM-HOST", not problems, measured, f"root: {', '.join(expected)}",
                 "pack from inside the model folder (`tar -czf model.tar.gz -C model .`) or let `mpkit build` pack it",
                 problems)]
    out.append(check("model-archive-files", f"the archive holds at most {MANY_FILES:,} files (each instance downloads "
                     "and unpacks them all before /ping)", "mpkit", len(found.names) <= MANY_FILES, len(found.names),
                     MANY_FILES, "pack many small files into one (an .npz, a .parquet, a zip the handler reads)",
                     warn_only=True))
    return out


def image_checks(config: dict, claims_pipeline: bool = True) -> list[Check]:
    """From `docker inspect` of the image: nothing is started."""
    c = config.get("Config") or {}
    entrypoint = c.get("Entrypoint") or []
    shell_form = bool(entrypoint[:2] in (["/bin/sh", "-c"], ["sh", "-c"], ["/bin/bash", "-c"]))
    # No ENTRYPOINT is SageMaker's other documented form: `docker run IMAGE serve` then runs an
    # executable named `serve` from PATH as PID 1.
    out = [
        check("entrypoint-exec-form", "the ENTRYPOINT is exec-form (or absent, with `serve` on PATH), so the server "
              "itself receives SIGTERM", "SM-HOST", not shell_form, entrypoint or "none: `serve` runs as the command",
              "exec form", 'write ENTRYPOINT ["python3", "-m", "your_server"] (JSON array), not ENTRYPOINT python3 ...'),
        check("entrypoint-not-tini", "the entry point is not the tini initializer", "SM-HOST",
              not any(PurePosixPath(a).name == "tini" for a in entrypoint[:1]), entrypoint[:1] or "none", "not tini",
              "start the server directly; SageMaker cannot use tini as the entry point"),
        check("root-user", "the container runs as root", "SM-HOST", c.get("User", "") in ("", "root", "0", "0:0"),
              c.get("User") or "root", "root", "remove USER from the Dockerfile (or end with USER root)"),
        check("architecture", "the image is linux/amd64 (validation is a batch job on x86 instances)", "API",
              config.get("Architecture") == "amd64" and config.get("Os") == "linux",
              f"{config.get('Os')}/{config.get('Architecture')}", "linux/amd64", "build with --platform linux/amd64"),
        check("bind-to-port-label", "the image declares com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true "
              "(needed in inference pipelines)", "SM-PIPE",
              (c.get("Labels") or {}).get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") == "true",
              (c.get("Labels") or {}).get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port", "absent"), "true",
              "add LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true and honour SAGEMAKER_BIND_TO_PORT",
              warn_only=not claims_pipeline),
        check("image-size", rules.ECR_LAYER_BYTES.text + " (the image size is governed by ECR's quotas)",
              rules.ECR_LAYER_BYTES.source, config.get("Size", 0) <= rules.ECR_LAYER_BYTES.value,
              config.get("Size", 0), int(rules.ECR_LAYER_BYTES.value), "split the image or move the model to model.tar.gz"),
    ]
    return out


def serve_path_files(argv: list[str]) -> list[str]:
    """Paths in the entry point's command line that may be scripts to read."""
    words = []
    for arg in argv:
        words.extend(shlex.split(arg) if " " in arg else [arg])
    return [w for w in words if w.startswith("/") or w.endswith((".sh", ".py"))]


def downloads_check(argv: list[str], scripts: dict[str, str]) -> Check:
    found = []
    command = " ".join(argv)
    if DOWNLOADERS.search(command):
        found.append(f"entry point: {command}")
    for path, text in scripts.items():
        for number, line in enumerate(text.splitlines(), 1):
            if not line.lstrip().startswith("#") and DOWNLOADERS.search(line):
                found.append(f"{path}:{number}: {line.strip()[:120]}")
    return check("no-downloads-at-start", "nothing is installed or downloaded when the container starts "
                 "(it runs with no network)", "MP-SEC", not found, f"{len(found)} found", "none",
                 "install everything at build time (RUN pip install ... in the Dockerfile) and bake model files in "
                 "or ship them in model.tar.gz", found)


def secrets_check(files) -> Check:
    """`files` yields (path inside the image or context, its content as bytes or a stream, or None
    when it is the distribution's own and only its name counts)."""
    def streams():
        for path, content in files:
            rel = path.split(": ", 1)[-1].lstrip("/")
            if content is None and packaged(rel):
                continue  # the distribution's and the Python packages' own files
            yield path, io.BytesIO(content) if isinstance(content, bytes) else content

    found = list(secrets.findings(streams()))
    return check("no-secrets", "no credentials or private keys in the image or its build context", "MP-SEC", not found,
                 f"{len(found)} found", "none", "remove them and add them to .dockerignore; rotate any key that was built in",
                 found)


def image_files(tar_stream):
    """(path, stream) for each regular file of an exported container filesystem, read as it
    goes by; the stream is None inside the distribution's and the Python packages' folders."""
    with tarfile.open(fileobj=tar_stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = member.name.lstrip("./")
            yield "/" + name, None if packaged(name) else tar.extractfile(member)


def read_stream(chunks) -> io.RawIOBase:
    """A file-like view over an iterator of byte chunks (docker's export stream)."""
    class Stream(io.RawIOBase):
        def __init__(self):
            self.iterator, self.buffer = iter(chunks), b""

        def readable(self):
            return True

        def readinto(self, b):
            while not self.buffer:
                try:
                    self.buffer = next(self.iterator)
                except StopIteration:
                    return 0
            n = min(len(b), len(self.buffer))
            b[:n], self.buffer = self.buffer[:n], self.buffer[n:]
            return n

    return io.BufferedReader(Stream(), 1024 * 1024)


# What the image's Python has installed, by distribution name, as JSON on stdout.
INSTALLED_PROGRAM = ("import importlib.metadata as m, json; "
                     "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))")


def runtime_check(recorded, installed: dict | None, prepared: dict | None = None) -> Check:
    """The library versions the model files record against the ones the image carries. A
    featurizer the image's build step compiled is served without scikit-learn: its version is the
    one the compiled featurizer was checked against at build."""
    if installed is None:
        return check("runtime-versions", "the image carries the library versions the model files were saved with", "mpkit",
                     False, "the image's python3 did not list its packages", "readable", "give the image a python3 on PATH",
                     warn_only=True)
    found, wrong = [], []
    featurizer = (prepared or {}).get("featurizer") or {}
    compiled_with = (featurizer.get("verified_with") or {}) if featurizer.get("compiled") else {}
    for item in recorded:
        names = ("xgboost", "xgboost-cpu") if item.package == "xgboost" else (item.package,)
        have = next((installed[n] for n in names if n in installed), None)
        line = f"{item.file.name}: saved by {item.package} {item.version}; the image has {have or 'none'}"
        if have is None and item.role == "featurizer" and item.package in compiled_with:
            have = compiled_with[item.package]
            line = (f"{item.file.name}: saved by {item.package} {item.version}; compiled at build and checked against "
                    f"{item.package} {have}, which the image leaves out")
        (found if have == item.version else wrong).append(line)
    return check("runtime-versions", "the image carries the library versions the model files were saved with "
                 "(a model served by another version may answer differently)", "mpkit", not wrong,
                 "; ".join(found + wrong) or "no versions recorded in the model files", "equal versions",
                 "rebuild with `mpkit build` (it reads the versions from the model files), or declare them in "
                 "runtime.packages", wrong)
