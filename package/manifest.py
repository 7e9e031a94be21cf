"""manifest.yaml, read and checked once, into a frozen Manifest; every error names its line.

The schema (manifest.schema.json) says what shape the file has; this module adds the rules the
schema cannot say (a default accept among the accept types, samples in declared types, feature
names unique) and resolves paths against the manifest's folder.
"""

from __future__ import annotations

import re

import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

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


def _dotted(path) -> str:
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
class Manifest:
    path: Path
    data: dict
    lines: dict = field(repr=False)

    # ---- where things are
    @property
    def root(self) -> Path:
        return self.path.parent

    def where(self, *field_path) -> str:
        """`manifest.yaml:LINE` for a field, or the nearest enclosing field that has a line."""
        path = tuple(field_path)
        while path and path not in self.lines:
            path = path[:-1]
        return f"{self.path}:{self.lines.get(path, 1)}"

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    # ---- the product
    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def image(self) -> str:
        """The tag `mpkit build` gives the product's image, and every command's default image."""
        return f"mpkit/{self.name}:{self.version}"

    @property
    def package_name(self) -> str:
        """The ModelPackageName: a Marketplace package is unversioned and immutable, so each
        version of the product is its own package, named from the name and the version."""
        return f"{self.name}-{re.sub(r'[^A-Za-z0-9]+', '-', self.version).strip('-')}"

    @property
    def model(self) -> dict:
        return self.data["model"]

    @property
    def delivery(self) -> str:
        return self.model.get("delivery", "image")

    @property
    def serving(self) -> dict:
        return self.data["serving"]

    @property
    def publish(self) -> dict:
        return self.data.get("publish") or {}

    @property
    def samples(self) -> list[Sample]:
        return [Sample(self.resolve(s["file"]), s["content_type"], s.get("accept")) for s in self.data.get("samples", [])]

    def model_files(self) -> dict[str, Path]:
        return {role: self.resolve(p) for role, p in self.model["files"].items()}

    def require_file(self, *field_path) -> Path:
        """The file a field names; a ManifestError naming field and line when it is missing."""
        node = self.data
        for part in field_path:
            node = node[part]
        path = self.resolve(node)
        if not path.is_file():
            raise ManifestError([f"{self.where(*field_path)}: {_dotted(field_path)}: file {node!r} not found ({path})"])
        return path


def _semantic_problems(data: dict, where) -> list[str]:
    problems = []
    serving = data["serving"]
    default = serving.get("default_accept")
    if default and default not in serving["accept_types"]:
        problems.append((("serving", "default_accept"), f"{default!r} is not among accept_types {serving['accept_types']}"))
    names = [f["name"] for f in data["model"].get("features", [])]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((("model", "features", i, "name"), f"feature {name!r} is listed twice"))
    for i, sample in enumerate(data.get("samples", [])):
        if sample["content_type"] not in serving["content_types"]:
            problems.append((("samples", i, "content_type"), f"{sample['content_type']!r} is not among serving.content_types"))
        if sample.get("accept") and sample["accept"] not in serving["accept_types"]:
            problems.append((("samples", i, "accept"), f"{sample['accept']!r} is not among serving.accept_types"))
    validation = data.get("validation")
    if validation:
        if validation["content_type"] not in serving["content_types"]:
            problems.append((("validation", "content_type"), f"{validation['content_type']!r} is not among serving.content_types"))
        if validation.get("accept") and validation["accept"] not in serving["accept_types"]:
            problems.append((("validation", "accept"), f"{validation['accept']!r} is not among serving.accept_types"))
    return [f"{where(*p)}: {_dotted(p)}: {message}" for p, message in problems]


def load_manifest(path: str | Path = "manifest.yaml") -> Manifest:
    path = Path(path).resolve()
    if not path.is_file():
        raise ManifestError([f"{path}: no such manifest file"])
    text = path.read_text()
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ManifestError([f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ManifestError([f"{path}:1: the manifest must be a mapping of fields"])
    lines = _positions(node)
    probe = Manifest(path, data, lines)

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    errors = sorted(validator.iter_errors(data), key=lambda e: (lines.get(tuple(e.absolute_path), 0), list(e.absolute_path)))
    if errors:
        raise ManifestError([
            f"{probe.where(*e.absolute_path)}: {_dotted(e.absolute_path)}: {e.message}" for e in errors
        ])
    problems = _semantic_problems(data, probe.where)
    if problems:
        raise ManifestError(problems)
    return probe
