"""The image's build step: run once inside `docker build`, with every default library installed,
before the final image takes the virtual environment and the model folder.

1. A pipeline's featurizer is compiled to a plan of plain numbers (featurizer.py) and written
   next to the model (FEATURIZER_PLAN_FILE), only when the plan, read back from its JSON, gives
   the features scikit-learn's own `transform` gives on the model's check rows. The plan names
   the featurizer and spec files by hash, so a plan never serves other files.
2. When the model then needs nothing of the libraries the seller side lets go (scikit-learn and
   setuptools, unless a seller's handler or requirements may import them): a bare XGBoost
   booster, or a compiled featurizer before one, those libraries and what only they need are
   uninstalled. The model is then loaded again in a fresh interpreter, and the libraries stay
   out only if its answers on the check rows are exactly the ones given with them; otherwise the
   requirements are installed again from the build's wheelhouse.

scikit-learn imports SciPy's statistics and pandas when it is imported (and XGBoost imports
scikit-learn whenever it is installed): about 0.7 s of every start, and ~50 MB of the image, for
a model that uses neither. What was done and why not is written to PREPARED_RECORD_PATH, which
`mpkit build` reports and `mpkit validate`'s runtime check reads.

Usage (the Dockerfile's): python3 -m inference_image prepare MODEL_DIR REQUEST_FILE RECORD_FILE
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from .codecs import Classified
from .contract import FEATURIZER_PLAN_FILE, MODEL_SPEC_FILE, canonical
from .featurizer import Unsupported, build_featurizer, describe_featurizer
from .handler import DEFAULT_HANDLER
from .loaders import file_sha256, load_model, pipeline_of, same_features, smoke_table
from .spec import ModelSpec

RECORD_FORMAT = 1
BOOSTER_SUFFIXES = (".json", ".ubj", ".bin", ".model")
WHEELHOUSE = "/tmp/wheelhouse"
REQUIREMENTS = "/tmp/requirements.txt"


_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")  # a requirement's distribution, before any version or marker


def _dependencies(dist) -> set[str]:
    """The distributions `dist` needs, extras left aside (a marker that may hold counts as held)."""
    found = set()
    for requirement in dist.requires or []:
        match = _NAME.match(requirement)
        if match and not re.search(r"\bextra\s*==", requirement):
            found.add(canonical(match.group(1)))
    return found


def removable(names, roots) -> dict[str, str]:
    """name -> version of `names` and of what only they need: whatever the other `roots` (the
    image's requirements) need, directly or not, stays."""
    dists = {canonical(d.metadata["Name"]): d for d in importlib.metadata.distributions()}

    def closure(start) -> set[str]:
        seen, todo = set(), [canonical(n) for n in start]
        while todo:
            name = todo.pop()
            if name in seen or name not in dists:
                continue
            seen.add(name)
            todo += _dependencies(dists[name])
        return seen

    wanted = {canonical(n) for n in names}
    keep = closure(canonical(r) for r in roots if canonical(r) not in wanted)
    return {name: dists[name].version for name in sorted(closure(wanted) - keep)}


def _roots(requirements: Path) -> list[str]:
    names = []
    for line in requirements.read_text().splitlines():
        match = _NAME.match(line)
        if match and not line.lstrip().startswith("#"):
            names.append(match.group(1))
    return names


def answers(model_dir: Path) -> str:
    """The model's answers on its check rows, as exact text (what the two interpreters compare)."""
    model, spec = load_model(model_dir, ModelSpec.read(model_dir))
    out = model.predict(smoke_table(spec))
    if isinstance(out, Classified):
        probabilities = None if out.probabilities is None else np.asarray(out.probabilities).tolist()
        return json.dumps({"classes": list(out.classes), "labels": out.labels, "probabilities": probabilities})
    return json.dumps(np.asarray(out).tolist())


def _plan(model, spec: ModelSpec, model_dir: Path) -> dict:
    """The featurizer's plan, read back from its JSON and checked against scikit-learn's output."""
    import sklearn

    pipeline = pipeline_of(model)
    if pipeline.compiled is None:
        raise Unsupported("it has steps mpkit does not compile (the server logs which)")
    plan = json.loads(json.dumps(describe_featurizer(pipeline.featurizer, spec)))
    check = smoke_table(spec)
    reference = pipeline.reference_features(check)
    ours = build_featurizer(plan)(check.numeric, check.strings)
    if not same_features(ours, reference):
        raise Unsupported("its plan differs from scikit-learn's transform on the check rows")
    featurizer_file = spec.files["featurizer"]
    plan.update(featurizer_file=featurizer_file, featurizer_sha256=file_sha256(model_dir / featurizer_file),
                spec_sha256=file_sha256(model_dir / MODEL_SPEC_FILE), verified_with={"scikit-learn": sklearn.__version__},
                check_features=reference.tolist())
    return plan


def _needs_only_numbers(spec: ModelSpec, model_dir: Path) -> str | None:
    """Why the model may need the libraries the seller side lets go; None when it cannot."""
    if spec.framework not in ("xgboost", "pipeline"):
        return f"framework {spec.framework} needs scikit-learn"
    role = "model" if spec.framework == "xgboost" else "predictor"
    if Path(spec.files.get(role, "")).suffix not in BOOSTER_SUFFIXES:
        return f"the {role} is a pickled estimator"
    if spec.framework == "pipeline" and not (model_dir / FEATURIZER_PLAN_FILE).is_file():
        return "the featurizer is not compiled"
    return None


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def prepare(model_dir: Path, request: dict, requirements: Path = Path(REQUIREMENTS)) -> dict:
    record = {"format": RECORD_FORMAT, "featurizer": None, "removed": {}, "kept": None}
    if not (model_dir / MODEL_SPEC_FILE).is_file():
        record["kept"] = "no model in the image: it comes from ModelDataUrl (S3 delivery), whatever it needs"
        return record
    spec = ModelSpec.read(model_dir)
    if spec.handler or (model_dir / DEFAULT_HANDLER).is_file() or spec.framework == "custom":
        record["kept"] = "a seller's handler may import any of the libraries"
        return record
    try:
        model, served = load_model(model_dir, spec)
    except Exception as exc:  # the server says the same at start, where validate reports it
        record["kept"] = f"the model does not load ({exc})"
        return record
    if spec.framework == "pipeline":
        if not spec.check_rows:
            record["featurizer"] = {"compiled": False, "why": "the model has no check rows to check a compiled featurizer on"}
        else:
            try:
                plan = _plan(model, served, model_dir)
            except Unsupported as exc:
                record["featurizer"] = {"compiled": False, "why": str(exc)}
            else:
                (model_dir / FEATURIZER_PLAN_FILE).write_text(json.dumps(plan) + "\n")
                record["featurizer"] = {"compiled": True, "file": FEATURIZER_PLAN_FILE,
                                        "verified_with": plan["verified_with"]}
    names = request.get("may_remove") or []
    why = "the seller side lets none of them go" if not names else _needs_only_numbers(spec, model_dir)
    if why:
        record["kept"] = why
        return record
    # Loaded again, as the server will load it: from the plan just written, not from scikit-learn.
    before = answers(model_dir)
    going = removable(names, _roots(requirements))
    if not going:
        record["kept"] = "none of them is installed"
        return record
    _pip("uninstall", "-y", *going)
    after = subprocess.run([sys.executable, "-m", "inference_image", "prepare", "--answers", str(model_dir)],
                           capture_output=True, text=True)
    if after.returncode != 0 or after.stdout.strip() != before:
        _pip("install", "--no-index", "--find-links", WHEELHOUSE, "--no-cache-dir", "-r", str(requirements))
        record["kept"] = ("without them the model did not answer exactly as with them: "
                          + (after.stderr.strip().splitlines() or ["other answers"])[-1]
                          + ("; setuptools, which is not in the wheelhouse, stays out" if "setuptools" in going else ""))
        return record
    record["removed"] = going
    return record


def main(argv: list[str]) -> int:
    if argv[:1] == ["--answers"]:
        print(answers(Path(argv[1])))
        return 0
    model_dir, request_file, record_file = (Path(a) for a in argv)
    request = json.loads(request_file.read_text()) if request_file.is_file() else {}
    record = prepare(model_dir, request)
    Path(record_file).write_text(json.dumps(record, indent=1) + "\n")
    removed = ", ".join(f"{k} {v}" for k, v in record["removed"].items())
    print(f"mpkit prepare: featurizer {record['featurizer']}; " + (f"left out: {removed}" if removed else f"kept all: {record['kept']}"),
          flush=True)
    return 0
