"""`mpkit init`: a new product folder for a model file, with a commented manifest.yaml and a CI
workflow. What the model says of itself (its framework, its features, the library version that
saved it) is read from the file's bytes; what only the seller knows is left as a placeholder that
`mpkit validate` refuses until it is replaced (sample files that do not exist yet, a role ARN
without an account)."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigurationError
from .runtime import PICKLE_SUFFIXES, XGBOOST_SUFFIXES, decompressed, sklearn_versions, ubj_load, xgboost_version

WORKFLOW_TEMPLATE = Path(__file__).with_name("templates") / "mpkit-workflow.yml"
ROLE_PLACEHOLDER = "arn:aws:iam::ACCOUNT_ID:role/mpkit-validation"


@dataclass
class ModelFacts:
    framework: str
    files: dict  # role -> path relative to the product folder
    features: list = field(default_factory=list)  # names, where the model has them
    feature_count: int | None = None
    packages: dict = field(default_factory=dict)  # library -> version that saved it
    classifier: bool = False  # a scikit-learn classifier (classes_), or a booster with a classification objective


def _pickle_int(data: bytes, at: int) -> int | None:
    op = data[at:at + 1]
    if op == b"K":
        return data[at + 1]
    if op == b"M":
        return struct.unpack("<H", data[at + 1:at + 3])[0]
    if op == b"J":
        return struct.unpack("<i", data[at + 1:at + 5])[0]
    return None


def _after_memo(data: bytes, at: int) -> int:
    if data[at:at + 1] == b"\x94":
        return at + 1
    if data[at:at + 1] == b"q":
        return at + 2
    if data[at:at + 1] == b"r":
        return at + 5
    return at


def sklearn_features(path: Path) -> tuple[list[str], int | None]:
    """An estimator's `feature_names_in_` (the widest, for a pipeline) and `n_features_in_`."""
    data = decompressed(path.read_bytes())
    counts = []
    for match in re.finditer(rb"n_features_in_", data):
        value = _pickle_int(data, _after_memo(data, match.end()))
        if value is not None:
            counts.append(value)
    best: list[str] = []
    for match in re.finditer(rb"feature_names_in_", data):
        # An object array pickles its items as a list: EMPTY_LIST, MARK, one string each, APPENDS.
        start = data.find(b"]", match.end(), match.end() + 4000)
        if start < 0:
            continue
        at = _after_memo(data, start + 1)
        if data[at:at + 1] != b"(":
            continue
        at, names = at + 1, []
        while data[at:at + 1] == b"\x8c":
            size = data[at + 1]
            names.append(data[at + 2:at + 2 + size].decode(errors="replace"))
            at = _after_memo(data, at + 2 + size)
        if data[at:at + 1] == b"e" and len(names) > len(best):
            best = names
    return best, (max(counts) if counts else (len(best) or None))


def _xgboost_learner(path: Path) -> dict:
    try:
        model = json.loads(path.read_bytes()) if path.suffix == ".json" else ubj_load(path.read_bytes())
        return model["learner"]
    except (ValueError, KeyError, TypeError, struct.error):
        return {}


def xgboost_features(path: Path) -> tuple[list[str], int | None]:
    learner = _xgboost_learner(path)
    try:
        return list(learner.get("feature_names") or []), int(learner["learner_model_param"]["num_feature"])
    except (KeyError, TypeError, ValueError):
        return [], None


def is_classifier(path: Path) -> bool:
    if path.suffix in XGBOOST_SUFFIXES:
        objective = str((_xgboost_learner(path).get("objective") or {}).get("name", ""))
        return objective.startswith(("binary:", "multi:"))
    return b"classes_" in decompressed(path.read_bytes())


def read_model(folder: Path, models: list[Path]) -> ModelFacts:
    """What the files say: one XGBoost model or pickled estimator, or a featurizer and a predictor."""
    for path in models:
        if not path.is_file():
            raise ConfigurationError(f"--model {path}: no such file")
        if path.suffix not in XGBOOST_SUFFIXES + PICKLE_SUFFIXES:
            raise ConfigurationError(f"--model {path}: mpkit reads XGBoost models ({', '.join(XGBOOST_SUFFIXES)}) and "
                                     f"pickled scikit-learn estimators ({', '.join(PICKLE_SUFFIXES)})",
                                     hint="for any other model, write a handler (model.handler) and list its files")
    rel = {p: Path(_relative(p, folder)) for p in models}
    if len(models) == 1:
        path = models[0]
        framework = "xgboost" if path.suffix in XGBOOST_SUFFIXES else "sklearn"
        files = {"model": rel[path]}
    elif len(models) == 2 and any(p.suffix in PICKLE_SUFFIXES for p in models):
        featurizer = next(p for p in models if p.suffix in PICKLE_SUFFIXES)
        predictor = next(p for p in models if p is not featurizer)
        framework, files = "pipeline", {"featurizer": rel[featurizer], "predictor": rel[predictor]}
    else:
        raise ConfigurationError("--model takes one model file, or a featurizer (pickled) and a predictor")
    facts = ModelFacts(framework=framework, files={k: str(v) for k, v in files.items()})
    source = next(p for p in models if rel[p] == Path(files.get("featurizer", files.get("model"))))
    names, count = (xgboost_features if source.suffix in XGBOOST_SUFFIXES else sklearn_features)(source)
    facts.features, facts.feature_count = names, count
    predictor = next(p for p in models if rel[p] == Path(files.get("predictor", files.get("model"))))
    facts.classifier = is_classifier(predictor)
    for path in models:
        if path.suffix in XGBOOST_SUFFIXES:
            if version := xgboost_version(path):
                facts.packages["xgboost"] = version
        elif versions := sklearn_versions(path):
            facts.packages["scikit-learn"] = sorted(versions)[-1]
    return facts


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        raise ConfigurationError(f"--model {path} is outside the product folder {folder}",
                                 hint="copy the model into the folder (its manifest's paths are relative to it)") from None


def manifest_text(name: str, facts: ModelFacts) -> str:
    features = facts.features or [f"x{i}" for i in range(facts.feature_count or 0)]
    named = "read from the model" if facts.features else (
        f"{facts.feature_count} features, unnamed in the model: rename them" if facts.feature_count else
        "the model does not say how many: list them")
    lines = [
        f"# {name}: made by `mpkit init` from {', '.join(facts.files.values())}. Paths are relative to this file.",
        "# Replace every REPLACE line before `mpkit validate`; it refuses the placeholders.",
        f"name: {name}",
        "version: 1.0.0",
        "description: >-",
        "  REPLACE: what the model predicts, from what, for whom.",
        "",
        "model:",
        f"  framework: {facts.framework}",
        "  files:",
        *(f"    {role}: {path}" for role, path in facts.files.items()),
        "  delivery: image            # image: baked in; s3: a model.tar.gz extracted to /opt/ml/model",
        f"  # features ({named}); type: number or string, required: true or false",
        "  features:" if features else "  features: []   # REPLACE: one entry per input column, in order",
        *(f"    - {{name: {json.dumps(f)}, type: number, required: true}}" for f in features),
        *(["  # a classifier: answer labels, probabilities (by class name) or both; classes name the model's",
            "  # class indexes in order (scikit-learn models name their own)",
            "  output: {name: prediction, task: classification, answer: both}"] if facts.classifier else
          ["  output: {name: prediction}   # REPLACE: what the model predicts, and its unit"]),
        "",
        "# The image's runtime: the versions that saved the model files (mpkit read them). A build with",
        "# other versions is refused; add a handler's own packages with requirements: FILE.",
        "runtime:",
        "  python: \"3.11\"",
    ]
    if facts.packages:
        lines += ["  packages:", *(f"    {lib}: \"{version}\"" for lib, version in facts.packages.items())]
    lines += [
        "",
        "serving:",
        "  content_types: [text/csv, application/json, application/jsonlines]",
        "  accept_types: [application/json, text/csv, application/jsonlines]",
        "  default_accept: application/json",
        "",
        "instance_types:",
        "  realtime: [ml.m5.large, ml.m5.xlarge]",
        "  batch: [ml.m5.large]",
        "",
        "# The batch transform job AWS runs to certify the package: write the input file (CSV rows, no header).",
        "validation:",
        "  input: validation/input.csv       # REPLACE: write this file",
        "  content_type: text/csv",
        "  split_type: Line",
        "  batch_strategy: MultiRecord",
        "  accept: text/csv",
        "  assemble_with: Line",
        "  instance_type: ml.m5.large",
        "  # The IAM role SageMaker uses to run the validation job: a full ARN of your account.",
        f"  role: {ROLE_PLACEHOLDER}   # REPLACE: your account's role",
        "",
        "# A request body per content type, for `mpkit predict`, the checks and the listing. REPLACE: write",
        "# each file: CSV rows with no header; JSON {\"instances\": [[...], ...]}; JSON Lines, one array per line.",
        "samples:",
        "  - {file: samples/input.csv, content_type: text/csv, accept: text/csv}",
        "  - {file: samples/input.json, content_type: application/json, accept: application/json}",
        "  - {file: samples/input.jsonl, content_type: application/jsonlines, accept: application/jsonlines}",
        "",
    ]
    return "\n".join(lines)


def init(folder: Path, models: list[Path], *, name: str | None = None, force: bool = False) -> list[Path]:
    """Write manifest.yaml and the CI workflow into `folder`; returns what was written."""
    folder = folder.resolve()
    manifest = folder / "manifest.yaml"
    workflow = folder / ".github" / "workflows" / "mpkit.yml"
    if manifest.exists() and not force:
        raise ConfigurationError(f"{manifest} exists", hint="pass --force to replace it, or edit it")
    if not models:
        raise ConfigurationError("--model FILE is required: mpkit reads the framework, the features and the runtime "
                                 "from the model file")
    facts = read_model(folder, [Path(m) if Path(m).is_absolute() else (Path.cwd() / m) for m in models])
    name = name or re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-") or "my-model"
    manifest.write_text(manifest_text(name, facts))
    written = [manifest]
    if not workflow.exists() or force:
        workflow.parent.mkdir(parents=True, exist_ok=True)
        workflow.write_text(WORKFLOW_TEMPLATE.read_text())
        written.append(workflow)
    return written
