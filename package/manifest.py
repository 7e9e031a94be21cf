"""manifest.yaml, read and checked once, into a frozen Manifest of typed sections; every error
names its line.

The schema (manifest.schema.json) says what shape the file has; this module adds the rules the
schema cannot say (a default accept among the accept types, samples in declared types, feature
names unique), sets each default once, and resolves paths against the manifest's folder. Nothing
outside this module reads the raw mapping.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from inference_image.contract import DEFAULT_MAX_PAYLOAD_MB, MIB, ServingConfig, default_accept
from inference_image.spec import NUMBER

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")


class ManifestError(Exception):
    """One or more problems, each as `file:line: field.path: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _positions(node, path=(), out=None) -> dict:
    """Map each field path (a tuple of keys and indexes) to its 1-based line in the YAML."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            out[child] = key.start_mark.line + 1
            _positions(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, path + (i,), out)
    return out


def dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True)
class Sample:
    file: Path
    content_type: str
    accept: str | None


@dataclass(frozen=True)
class Feature:
    name: str
    type: str = NUMBER
    required: bool = True
    unit: str | None = None
    description: str | None = None
    range: tuple | None = None  # the training data's range: informative, not enforced
    categories: tuple | None = None  # a string feature's values: any other is refused with a 400...
    allow_unknown: bool = False  # ...unless this lets the model's own encoder decide


@dataclass(frozen=True)
class Training:
    script: str | None = None
    metrics: Path | None = None
    data: str | None = None


@dataclass(frozen=True)
class ModelSection:
    framework: str
    files: dict  # role -> resolved path
    handler: Path | None = None
    check_rows: Path | None = None
    delivery: str = "image"  # image: baked in; s3: model.tar.gz extracted to /opt/ml/model
    features: tuple = ()
    output_name: str | None = None  # None: not declared; the image then calls it "prediction"
    output_description: str | None = None
    classifier: bool = False  # output.task: classification
    answer: str = "labels"  # a classifier's answer: labels, probabilities or both
    classes: tuple = ()  # class names in the model's class order
    training: Training = Training()


@dataclass(frozen=True)
class RuntimeSection:
    """What the seller declares of the image's runtime; the rest is read from the model files."""

    python: str | None = None  # default: the base image's (3.11)
    packages: dict = field(default_factory=dict)  # library -> exact version
    requirements: Path | None = None  # a handler's extra requirements


@dataclass(frozen=True)
class Serving:
    content_types: tuple
    accept_types: tuple
    default_accept: str  # contract.default_accept: the declared one, else the first accept type
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB  # SM-BATCH default, API-RT 6 MiB
    timeout_s: int | None = None
    workers: int | None = None  # None: one per CPU ("auto")

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MIB

    def config(self, metering: bool = False) -> ServingConfig:
        """What the image is baked with (inference_image/contract.py)."""
        return ServingConfig(content_types=self.content_types, accept_types=self.accept_types,
                             default_accept=self.default_accept, max_payload_mb=self.max_payload_mb,
                             workers=self.workers, timeout_s=self.timeout_s, metering=True if metering else None)


@dataclass(frozen=True)
class Pricing:
    """How the product is priced (the listing's offer reuses it). Under `inference` the image
    reports each 2xx answer's records in the metering header."""

    model: str | None = None  # free | hourly | inference; None: not declared
    realtime: float | dict | None = None  # hourly: one price, or instance type -> USD per hour
    batch: float | dict | None = None
    inference: float | None = None  # inference: USD per inference
    free_trial_days: int | None = None

    @property
    def metered(self) -> bool:
        return self.model == "inference"

    def hourly_rate(self, side: str, instance_type: str) -> float | None:
        """The hourly price of `instance_type` for real-time (`realtime`) or batch use; None when
        the manifest names none for it."""
        rates = getattr(self, side)
        if isinstance(rates, dict):
            return rates.get(instance_type)
        return rates


@dataclass(frozen=True)
class InstanceTypes:
    realtime: tuple
    batch: tuple

    @property
    def all(self) -> tuple:
        return (*self.realtime, *self.batch)


@dataclass(frozen=True)
class ValidationProfile:
    """The batch transform job AWS runs to certify the package. None means "not set": SageMaker
    then takes the container's /execution-parameters, else its own defaults (SM-BATCH)."""

    input: Path
    content_type: str
    instance_type: str
    split_type: str | None = None
    batch_strategy: str | None = None
    max_payload_mb: int | None = None
    max_concurrent_transforms: int | None = None
    accept: str | None = None
    assemble_with: str | None = None
    instance_count: int = 1
    role: str | None = None
    environment: dict = field(default_factory=dict)

    def job_definition(self) -> dict:
        """As TransformJobDefinition values (None where unset)."""
        return {"ContentType": self.content_type, "Accept": self.accept, "SplitType": self.split_type,
                "BatchStrategy": self.batch_strategy, "MaxPayloadInMB": self.max_payload_mb,
                "MaxConcurrentTransforms": self.max_concurrent_transforms, "AssembleWith": self.assemble_with,
                "Environment": dict(self.environment)}


@dataclass(frozen=True)
class Publish:
    region: str | None = None
    repository: str = ""  # default: the product's name
    bucket: str | None = None  # default (made from the account): mpkit-ACCOUNT-REGION
    prefix: str = ""  # default: the product's name
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    use_cases: tuple
    limitations: str
    repository_url: str
    access_role_arn: str
    sample_notebook_url: str | None = None
    product_id: str | None = None
    release_notes: str | dict | None = None  # one text, or version -> text
    recommended_realtime: str | None = None  # default: the first real-time instance type
    recommended_batch: str | None = None  # default: the first batch instance type
    model_package_arns: dict = field(default_factory=dict)  # Region -> ARN
    # The product's page and offer (`mpkit release`).
    title: str | None = None
    short_description: str | None = None
    long_description: str | None = None
    highlights: tuple = ()
    keywords: tuple = ()
    categories: tuple = ()
    logo_url: str | None = None
    support: str | None = None
    refund_policy: str | None = None
    eula: str | None = None  # "standard" or an https URL
    test_accounts: tuple = ()
    offer_id: str | None = None

    def notes_for(self, version: str) -> str | None:
        """This version's release notes, when the manifest gives them."""
        if isinstance(self.release_notes, dict):
            return self.release_notes.get(version)
        return self.release_notes


@dataclass(frozen=True)
class Prebuilt:
    """An image mpkit did not build, judged by SageMaker's contract alone."""
    ref: str
    model_archive: Path | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    lines: dict = field(repr=False)
    name: str
    version: str
    description: str
    model: ModelSection
    serving: Serving
    pricing: Pricing
    runtime: RuntimeSection
    instance_types: InstanceTypes
    validation: ValidationProfile | None
    publish: Publish
    listing: Listing | None
    samples: tuple
    _raw: dict = field(repr=False, compare=False)
    prebuilt: Prebuilt | None = None

    # ---- where things are
    @property
    def root(self) -> Path:
        return self.path.parent

    def where(self, *field_path) -> str:
        """`manifest.yaml:LINE` for a field, or the nearest enclosing field that has a line."""
        return _where(self.path, self.lines, field_path)

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    # ---- names
    @property
    def image(self) -> str:
        """Every command's default image: the prebuilt one the manifest names, else the tag
        `mpkit build` gives the product's image."""
        return self.prebuilt.ref if self.prebuilt else f"mpkit/{self.name}:{self.version}"

    @property
    def package_name(self) -> str:
        """The ModelPackageName: a Marketplace package is unversioned and immutable, so each
        version of the product is its own package, named from the name and the version."""
        return f"{self.name}-{re.sub(r'[^A-Za-z0-9]+', '-', self.version).strip('-')}"

    @property
    def delivery(self) -> str:
        return self.model.delivery

    def model_files(self) -> dict[str, Path]:
        return dict(self.model.files)

    def declared_files(self) -> list[tuple[tuple, Path]]:
        """(field path, resolved path) of every file the manifest names."""
        out = [(("model", "files", role), path) for role, path in self.model.files.items()]
        if self.prebuilt and self.prebuilt.model_archive:
            out.append((("image", "model_archive"), self.prebuilt.model_archive))
        for field_path, path in ((("model", "handler"), self.model.handler), (("model", "check_rows"), self.model.check_rows),
                                 (("model", "training", "metrics"), self.model.training.metrics),
                                 (("runtime", "requirements"), self.runtime.requirements),
                                 (("validation", "input"), self.validation.input if self.validation else None)):
            if path is not None:
                out.append((field_path, path))
        out += [(("samples", i, "file"), sample.file) for i, sample in enumerate(self.samples)]
        return out

    def require_declared_files(self, *, skip: tuple = ()) -> None:
        """A ManifestError naming the field and line of every declared file that is missing, but
        those under the `skip` sections (a command given its own input does not need them)."""
        problems = []
        for field_path, path in self.declared_files():
            if any(field_path[:len(part)] == part for part in skip):
                continue
            if not path.exists():
                problems.append(f"{self.where(*field_path)}: {dotted(field_path)}: {path.name} not found ({path})\n"
                                f"    fix: write the file, or correct the path (relative to the manifest's folder, {self.root})")
            elif path.is_dir() and not any(p.is_file() and not p.name.startswith(".") for p in path.iterdir()):
                problems.append(f"{self.where(*field_path)}: {dotted(field_path)}: the folder {path} holds no files\n"
                                "    fix: put the input files in it, or name one file")
        if problems:
            raise ManifestError(problems)

    def require_file(self, *field_path) -> Path:
        """The file a field names; a ManifestError naming field and line when it is missing."""
        node = self._raw
        for part in field_path:
            node = node[part]
        path = self.resolve(node)
        if not path.is_file():
            raise ManifestError([f"{self.where(*field_path)}: {dotted(field_path)}: file {node!r} not found ({path})"
                                 f"\n    fix: write the file, or correct the path (relative to the manifest's folder, {self.root})"])
        return path


def _where(path: Path, lines: dict, field_path) -> str:
    field_path = tuple(field_path)
    while field_path and field_path not in lines:
        field_path = field_path[:-1]
    return f"{path}:{lines.get(field_path, 1)}"


def _sections(path: Path, data: dict, lines: dict) -> Manifest:
    """The typed sections, each default set here once."""
    root = path.parent

    def resolve(relative):
        return (root / relative).resolve() if relative else None

    image = data.get("image")
    prebuilt = Prebuilt(ref=image["ref"], model_archive=resolve(image.get("model_archive"))) if image else None
    # A prebuilt image has no model section: its model is the image's business, and its
    # delivery is the archive's when one is named.
    model = data.get("model") or {"framework": "external", "files": {},
                                  "delivery": "s3" if prebuilt and prebuilt.model_archive else "image"}
    output = model.get("output") or {}
    training = model.get("training") or {}
    features = tuple(
        Feature(name=f["name"], type=f.get("type", NUMBER), required=f.get("required", True), unit=f.get("unit"),
                description=f.get("description"), range=tuple(f["range"]) if f.get("range") else None,
                categories=tuple(f["categories"]) if f.get("categories") else None,
                allow_unknown=f.get("allow_unknown", False))
        for f in model.get("features") or [])
    serving = data["serving"]
    workers = serving.get("workers")
    validation = data.get("validation")
    runtime = data.get("runtime") or {}
    publish = data.get("publish") or {}
    listing = data.get("listing")
    recommended = (listing or {}).get("recommended") or {}
    return Manifest(
        path=path, lines=lines, name=data["name"], version=data["version"],
        description=(data.get("description") or "").strip(),
        model=ModelSection(
            framework=model["framework"], files={role: resolve(p) for role, p in model["files"].items()},
            handler=resolve(model.get("handler")), check_rows=resolve(model.get("check_rows")),
            delivery=model.get("delivery", "image"), features=features,
            output_name=output.get("name"), output_description=output.get("description"),
            classifier=output.get("task") == "classification", answer=output.get("answer", "labels"),
            classes=tuple(str(c) for c in output.get("classes") or ()),
            training=Training(script=training.get("script"), metrics=resolve(training.get("metrics")),
                              data=training.get("data"))),
        serving=Serving(
            content_types=tuple(serving["content_types"]), accept_types=tuple(serving["accept_types"]),
            default_accept=default_accept(serving["accept_types"], serving.get("default_accept")),
            max_payload_mb=serving.get("max_payload_mb", DEFAULT_MAX_PAYLOAD_MB), timeout_s=serving.get("timeout_s"),
            workers=workers if isinstance(workers, int) else None),
        pricing=Pricing(**{k: v for k, v in (data.get("pricing") or {}).items()}),
        runtime=RuntimeSection(python=str(runtime["python"]) if runtime.get("python") else None,
                               packages={str(k): str(v) for k, v in (runtime.get("packages") or {}).items()},
                               requirements=resolve(runtime.get("requirements"))),
        instance_types=InstanceTypes(realtime=tuple(data["instance_types"]["realtime"]),
                                     batch=tuple(data["instance_types"]["batch"])),
        validation=None if not validation else ValidationProfile(
            input=resolve(validation["input"]), content_type=validation["content_type"],
            instance_type=validation["instance_type"], split_type=validation.get("split_type"),
            batch_strategy=validation.get("batch_strategy"), max_payload_mb=validation.get("max_payload_mb"),
            max_concurrent_transforms=validation.get("max_concurrent_transforms"), accept=validation.get("accept"),
            assemble_with=validation.get("assemble_with"), instance_count=validation.get("instance_count", 1),
            role=validation.get("role"), environment=dict(validation.get("environment") or {})),
        publish=Publish(region=publish.get("region"), repository=publish.get("repository") or data["name"],
                        bucket=publish.get("bucket"), prefix=(publish.get("prefix") or data["name"]).strip("/"),
                        tags=dict(publish.get("tags") or {})),
        listing=None if not listing else Listing(
            use_cases=tuple(listing["use_cases"]), limitations=listing["limitations"],
            repository_url=listing["repository_url"], access_role_arn=listing["access_role_arn"],
            sample_notebook_url=listing.get("sample_notebook_url"), product_id=listing.get("product_id"),
            release_notes=listing.get("release_notes"), recommended_realtime=recommended.get("realtime"),
            recommended_batch=recommended.get("batch"), model_package_arns=dict(listing.get("model_package_arns") or {}),
            title=listing.get("title"), short_description=listing.get("short_description"),
            long_description=listing.get("long_description"), highlights=tuple(listing.get("highlights") or ()),
            keywords=tuple(listing.get("keywords") or ()), categories=tuple(listing.get("categories") or ()),
            logo_url=listing.get("logo_url"), support=listing.get("support"), refund_policy=listing.get("refund_policy"),
            eula=listing.get("eula"), test_accounts=tuple(listing.get("test_accounts") or ()),
            offer_id=listing.get("offer_id")),
        samples=tuple(Sample(resolve(s["file"]), s["content_type"], s.get("accept")) for s in data.get("samples", [])),
        _raw=data,
        prebuilt=prebuilt,
    )


def _semantic_problems(data: dict, where) -> list[str]:
    problems = []
    serving = data["serving"]
    default = serving.get("default_accept")
    if default and default not in serving["accept_types"]:
        problems.append((("serving", "default_accept"), f"{default!r} is not among accept_types {serving['accept_types']}",
                         "add it to serving.accept_types, or choose one of them"))
    model = data.get("model") or {}
    for i, feature in enumerate(model.get("features", [])):
        if feature.get("categories") and feature.get("type", NUMBER) != "string":
            problems.append((("model", "features", i, "categories"), "categories are for features of type string",
                             "set type: string on this feature, or remove categories"))
        if feature.get("allow_unknown") and not feature.get("categories"):
            problems.append((("model", "features", i, "allow_unknown"), "allow_unknown needs categories",
                             "list the feature's categories, or remove allow_unknown"))
    output = model.get("output") or {}
    for key in ("answer", "classes"):
        if key in output and output.get("task") != "classification":
            problems.append((("model", "output", key), f"output.{key} is for output.task: classification",
                             f"set output.task: classification, or remove output.{key}"))
    names = [f["name"] for f in model.get("features", [])]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((("model", "features", i, "name"), f"feature {name!r} is listed twice",
                             "rename one of them or remove the repeat (each column has one name)"))
    for i, sample in enumerate(data.get("samples", [])):
        if sample["content_type"] not in serving["content_types"]:
            problems.append((("samples", i, "content_type"), f"{sample['content_type']!r} is not among serving.content_types",
                             "add it to serving.content_types, or use one of them"))
        if sample.get("accept") and sample["accept"] not in serving["accept_types"]:
            problems.append((("samples", i, "accept"), f"{sample['accept']!r} is not among serving.accept_types",
                             "add it to serving.accept_types, or use one of them"))
    validation = data.get("validation")
    if validation:
        if validation["content_type"] not in serving["content_types"]:
            problems.append((("validation", "content_type"), f"{validation['content_type']!r} is not among serving.content_types",
                             "add it to serving.content_types, or use one of them"))
        if validation.get("accept") and validation["accept"] not in serving["accept_types"]:
            problems.append((("validation", "accept"), f"{validation['accept']!r} is not among serving.accept_types",
                             "add it to serving.accept_types, or use one of them"))
    return [f"{where(*p)}: {dotted(p)}: {message}\n    fix: {fix}" for p, message, fix in problems]


def _schema_problem(error, where) -> str:
    """One problem in plain words, at the line of the key at fault, with a fix where one is known."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
        lines = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"the fields here are {', '.join(allowed)}"
            lines.append(f"{where(*path, key)}: {dotted(path + (key,))}: unknown field `{key}`; {hint}\n"
                         f"    fix: {'rename it to ' + repr(close[0]) if close else 'remove it'}")
        if lines:
            return "\n".join(lines)
    if error.validator == "enum":
        close = difflib.get_close_matches(str(error.instance), [str(v) for v in error.validator_value], n=1)
        return (f"{where(*path)}: {dotted(path)}: {error.instance!r} is not one of "
                f"{', '.join(map(str, error.validator_value))}" + (f"; did you mean `{close[0]}`?" if close else "")
                + f"\n    fix: {'change it to ' + repr(close[0]) if close else 'use one of the values listed'}")
    if error.validator == "required":
        also = " (or `image:` naming a prebuilt image)" if error.message.startswith("'model'") else ""
        return (f"{where(*path)}: {dotted(path)}: {error.message}{also}\n"
                "    fix: add it (manifest.schema.json describes each field)")
    if error.validator == "not" and error.validator_value == {"required": ["model"]}:
        return (f"{where('model')}: model: a manifest with `image:` (a prebuilt image) has no `model` section\n"
                "    fix: remove `model` to validate the prebuilt image as it is, or remove `image` to let mpkit build")
    if error.validator == "pattern":
        return (f"{where(*path)}: {dotted(path)}: {error.instance!r} is not in the form this field takes "
                f"({error.validator_value})\n    fix: {error.schema.get('description') or _field_help(error) or 'rewrite it in that form'}")
    return f"{where(*path)}: {dotted(path)}: {error.message}\n    fix: {_fix(error)}"


def _field_help(error) -> str:
    """The schema's own description of the field at fault, when it has one."""
    return error.schema.get("description", "") if isinstance(error.schema, dict) else ""


def _fix(error) -> str:
    limit = error.validator_value
    fixes = {
        "maximum": f"use at most {limit}",
        "minimum": f"use at least {limit}",
        "exclusiveMinimum": f"use more than {limit}",
        "maxLength": f"shorten it to at most {limit} characters",
        "minLength": f"give at least {limit} character{'s' if limit != 1 else ''}",
        "minItems": f"give at least {limit} entr{'ies' if limit != 1 else 'y'}",
        "maxItems": f"give at most {limit} entries",
        "uniqueItems": "remove the repeated entries",
        "const": f"set it to {limit!r}",
    }
    if error.validator == "type":
        wanted = limit if isinstance(limit, str) else " or ".join(limit)
        if wanted == "string" and isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool):
            return f"quote it, e.g. \"{error.instance}\" (YAML reads unquoted {error.instance} as a number)"
        return f"write a {wanted} here"
    return fixes.get(error.validator) or _field_help(error) or "see manifest.schema.json for what this field takes"


def load_manifest(path: str | Path = "manifest.yaml") -> Manifest:
    path = Path(path).resolve()
    if not path.is_file():
        raise ManifestError([f"{path}: no such manifest file\n    fix: pass --manifest PATH, or write one with "
                             "`mpkit init --model FILE`"])
    text = path.read_text()
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        source = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        context = f" ({exc.context})" if getattr(exc, "context", None) else ""
        raise ManifestError([f"{path}:{line}:{column}: not valid YAML: {getattr(exc, 'problem', exc)}{context}",
                             f"    {source}", f"    {' ' * (column - 1)}^",
                             "    fix: correct the YAML there (an unclosed bracket or quote, a tab in the indentation, "
                             "or a missing `: ` after a key)"]) from None
    if not isinstance(data, dict):
        raise ManifestError([f"{path}:1: the manifest must be a mapping of fields\n    fix: start from "
                             "`mpkit init --model FILE`, or the example product's manifest.yaml"])
    lines = _positions(node)

    def where(*field_path):
        return _where(path, lines, field_path)

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (lines.get(tuple(e.absolute_path), 0), list(e.absolute_path)))
    if errors:
        raise ManifestError([_schema_problem(e, where) for e in errors])
    problems = _semantic_problems(data, where)
    if problems:
        raise ManifestError(problems)
    return _sections(path, data, lines)
