"""The listing lint: every item a model package listing requires (MP-REQ) present and within the
Catalog's limits (CAT), sample files that parse as their declared type, and no template text
left. It reads a listing folder, whoever wrote it, through its index `listing.json`."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from package import rules
from package.report import Check, check

from . import changeset as cs

INDEX = "listing.json"
TEXT_SUFFIXES = {".md", ".sh", ".py", ".json", ".ipynb", ".txt"}


def parse_problem(path: Path, media: str) -> str | None:
    """None when the file parses as `media`, else what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read as UTF-8 text: {exc}"
    if not text.strip():
        return "is empty"
    base = media.split(";")[0].strip()
    if base == "text/csv":
        widths = {len(row) for row in csv.reader(io.StringIO(text)) if row}
        return None if len(widths) == 1 else f"rows have different numbers of fields: {sorted(widths)}"
    if base == "application/json":
        try:
            json.loads(text)
        except ValueError as exc:
            return f"is not JSON: {exc}"
        return None
    if base == "application/jsonlines":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as exc:
                    return f"line {n} is not JSON: {exc}"
        return None
    return None  # a type this lint cannot read is taken as it is


def placeholders(folder: Path) -> list[str]:
    patterns = [re.compile(p, re.IGNORECASE) for p in rules.PLACEHOLDER_PATTERNS]
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or "samples" in path.relative_to(folder).parts:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for pattern in patterns:
                hit = pattern.search(line)
                if hit:
                    found.append(f"{path.relative_to(folder)}:{n}: {hit.group(0)!r}")
    return found


def lint(folder: Path) -> list[Check]:
    folder = Path(folder)
    index_path = folder / INDEX
    if not index_path.is_file():
        return [check("listing-index", "the listing folder has its index listing.json", "MP-REQ", False,
                      "missing", INDEX, "write the folder with `mpkit listing --output DIR`")]
    index = json.loads(index_path.read_text())
    items = index.get("items") or {}
    checks = []

    missing = []
    for key, what in rules.LISTING_REQUIRED_ITEMS.items():
        files = items.get(key) or []
        files = [files] if isinstance(files, str) else files
        absent = [f for f in files if not (folder / f).is_file() or (folder / f).stat().st_size == 0]
        if not files or absent:
            missing.append(f"{what} ({', '.join(absent) if absent else 'not in the listing'})")
    checks.append(check("listing-required-items", "every item a model package listing requires is present: usage, "
                        "real-time and batch samples in and out, a CLI or SDK example, a notebook, the description "
                        "with metric and performance", "MP-REQ", not missing, f"{len(missing)} missing", "none",
                        "re-run `mpkit listing`; it writes each item from the manifest, the report and the image", missing))

    usage = folder / (items.get("usage") or "USAGE.md")
    length = len(usage.read_text()) if usage.is_file() else 0
    checks.append(check("listing-usage-length", rules.USAGE_INSTRUCTIONS_CHARS.text, rules.USAGE_INSTRUCTIONS_CHARS.source,
                        0 < length <= rules.USAGE_INSTRUCTIONS_CHARS.value, length,
                        int(rules.USAGE_INSTRUCTIONS_CHARS.value),
                        "shorten the description or the feature descriptions in the manifest"))

    bad = []
    for sample in index.get("samples") or []:
        for side, media in (("input", sample.get("content_type")), ("output", sample.get("accept"))):
            path = folder / sample.get(side, "")
            if not path.is_file():
                bad.append(f"{sample.get(side)}: missing")
                continue
            problem = parse_problem(path, media or "")
            if problem:
                bad.append(f"{sample[side]} ({media}) {problem}")
    checks.append(check("listing-samples-parse", "each sample input and output parses as its declared content type",
                        "MP-REQ", not bad and bool(index.get("samples")), f"{len(bad)} bad",
                        "none", "regenerate the samples with `mpkit listing`; fix the training script that writes them", bad))

    left = placeholders(folder)
    checks.append(check("listing-no-placeholders", "no template or placeholder text is left in the listing", "MP-REQ",
                        not left, f"{len(left)} found", "none", "replace each with the product's own words", left))

    checks.append(_feature_descriptions_check(folder, items.get("changeset")))
    checks.append(_notebook_check(folder, items.get("notebook")))
    checks.append(_changeset_check(folder, items.get("changeset")))
    return checks


def _notebook_check(folder: Path, name: str | None) -> Check:
    import nbformat

    rule = ("the buyer notebook is valid nbformat, creates the model with EnableNetworkIsolation=True "
            "and uses no SageMaker SDK class (boto3 only)")
    problems = []
    path = folder / (name or "")
    if not name or not path.is_file():
        problems.append("no notebook")
    else:
        try:
            notebook = nbformat.read(str(path), as_version=4)
            nbformat.validate(notebook)
            code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
            if "EnableNetworkIsolation=True" not in code:
                problems.append("no create_model with EnableNetworkIsolation=True")
            if re.search(r"^\s*(import sagemaker|from sagemaker\b)", code, re.MULTILINE):
                problems.append("imports the sagemaker SDK; SDK 3 removed ModelPackage (peers.md §2)")
        except Exception as exc:  # nbformat raises several kinds for a broken file; each is the finding
            problems.append(f"not a valid notebook: {exc}")
    return check("listing-notebook", rule, "MP-REQ", not problems, "; ".join(problems) or "ok", "valid",
                 "re-run `mpkit listing` to write the notebook", problems)


def _feature_descriptions_check(folder: Path, name: str | None) -> Check:
    """A feature with no description reaches buyers as its name and type alone ("age (number)")."""
    bare = []
    path = folder / (name or "")
    if name and path.is_file():
        for change in json.loads(path.read_text()).get("ChangeSet") or []:
            for option in (change.get("DetailsDocument") or {}).get("DeliveryOptions") or []:
                inner = option.get("Details", {}).get("SageMakerModelPackageDeliveryOptionDetails", {})
                for p in inner.get("InputProperties", {}).get("Parameters") or []:
                    if cs.is_bare(p.get("Name", ""), p.get("Description")):
                        bare.append(p.get("Name"))
    return check("listing-feature-descriptions", "every input feature has a description buyers can act on", "MP-REQ",
                 not bare, f"{len(bare)} without", "none",
                 "add description: to each feature in the manifest's model.features (what it is, its unit)",
                 [f"{n}: no description" for n in bare])


def _changeset_check(folder: Path, name: str | None) -> Check:
    problems = []
    path = folder / (name or "")
    if not name or not path.is_file():
        problems.append("no change set")
    else:
        params = json.loads(path.read_text())
        for change in params.get("ChangeSet") or []:
            problems += cs.problems(change.get("DetailsDocument") or {})
        problems += [f"botocore: {p}" for p in cs.botocore_problems(params)]
    return check("listing-changeset", "the Catalog change set's fields are within the limits and patterns of "
                 "MachineLearningProduct@1.0 AddDeliveryOptions, and botocore accepts StartChangeSet", "CAT",
                 not problems, f"{len(problems)} problems", "none",
                 "fix the manifest field named (listing.*, description, features) and re-run `mpkit listing`", problems)
