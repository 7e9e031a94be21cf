"""The image's runtime follows the model: the Python and library versions the image carries.

A model file records the library that wrote it: a scikit-learn pickle stores `_sklearn_version`
in every estimator's state, an XGBoost JSON or UBJSON model stores `version`. The runtime is the
manifest's `runtime:` section where it says, else those recorded versions, else mpkit's defaults
(inference_image/requirements.txt). The file is read as bytes: nothing is unpickled on the host.

A model served by another version of its library is at best warned about and at worst answers
differently, so a declared version that differs from a recorded one is refused before the build.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import inference_image
from inference_image.contract import canonical

from .errors import ConfigurationError
from .manifest import Manifest

DEFAULT_REQUIREMENTS = Path(inference_image.__file__).resolve().with_name("requirements.txt")
DEFAULT_PYTHON = "3.11"  # the Python of the default base image (python:3.11-slim) and of the local fallback
XGBOOST_SUFFIXES = (".json", ".ubj")
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# scikit-learn built against NumPy 2 from 1.4.2 on; older wheels need NumPy 1 at run time.
SKLEARN_NUMPY2 = (1, 4, 2)
# XGBoost's CPU-only wheel exists from 2.1.0; before it, the one wheel is `xgboost`.
XGBOOST_CPU_FROM = (2, 1, 0)
# Libraries whose versions are pinned together in the defaults: when a model library moves to
# another version, these are left to the resolver (within what that version supports).
COMPANIONS = ("numpy", "scipy", "pandas")


def version_tuple(version: str) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


# ---- what the model files record


def decompressed(data: bytes) -> bytes:
    """joblib's compressed files (zlib, gzip, bz2, xz, lzma) as the plain pickle they hold."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:3] == b"BZh":
            return bz2.decompress(data)
        if data[:6] == b"\xfd7zXZ\x00" or data[:3] == b"]\x00\x00":
            return lzma.decompress(data)
        if data[:1] == b"\x78":
            return zlib.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, zlib.error):
        return data
    return data


# The key, an optional memo opcode (MEMOIZE, BINPUT, LONG_BINPUT), then the value as a
# SHORT_BINUNICODE, BINUNICODE or SHORT_BINSTRING.
_SKLEARN_VERSION = re.compile(rb"_sklearn_version(?:\x94|q[\x00-\xff]|r[\x00-\xff]{4})?(?:\x8c([\x00-\xff])|X([\x00-\xff]{4})|U([\x00-\xff]))",
                              re.S)


def sklearn_versions(path: Path) -> set[str]:
    """Every scikit-learn version recorded in a pickle (one per estimator; normally all equal)."""
    data = decompressed(path.read_bytes())
    found = set()
    for match in _SKLEARN_VERSION.finditer(data):
        if match.group(1) is not None or match.group(3) is not None:
            size = (match.group(1) or match.group(3))[0]
        else:
            size = struct.unpack("<I", match.group(2))[0]
        text = data[match.end():match.end() + size]
        try:
            version = text.decode()
        except UnicodeDecodeError:
            continue
        if re.fullmatch(r"\d+\.\d+(\.\d+)?[\w.+-]*", version):
            found.add(version)
    return found


def _ubj_value(data: bytes, at: int):
    """One UBJSON integer or array of integers at `at` (what XGBoost writes for `version`)."""
    sizes = {b"i": ("b", 1), b"U": ("B", 1), b"I": (">h", 2), b"l": (">i", 4), b"L": (">q", 8)}
    marker = data[at:at + 1]
    if marker in sizes:
        fmt, size = sizes[marker]
        return struct.unpack(fmt, data[at + 1:at + 1 + size])[0], at + 1 + size
    if marker != b"[":
        raise ValueError(f"UBJSON marker {marker!r}")
    at += 1
    kind = None
    if data[at:at + 1] == b"$":
        kind, at = data[at + 1:at + 2], at + 2
    count = None
    if data[at:at + 1] == b"#":
        count, at = _ubj_value(data, at + 1)
    items = []
    while (count is None and data[at:at + 1] != b"]") or (count is not None and len(items) < count):
        if kind:
            fmt, size = sizes[kind]
            items.append(struct.unpack(fmt, data[at:at + size])[0])
            at += size
        else:
            value, at = _ubj_value(data, at)
            items.append(value)
    return items, at + (1 if count is None else 0)


_UBJ_NUMBERS = {b"i": ("b", 1), b"U": ("B", 1), b"I": (">h", 2), b"l": (">i", 4), b"L": (">q", 8), b"d": (">f", 4),
                b"D": (">d", 8)}


def ubj_load(data: bytes):
    """A whole UBJSON document (as XGBoost writes it) as Python values."""

    def value(at: int, marker: bytes | None = None):
        """The value at `at`; `marker` is given for a typed container's items, which have none."""
        if marker is None:
            marker, at = data[at:at + 1], at + 1
        if marker in _UBJ_NUMBERS:
            fmt, size = _UBJ_NUMBERS[marker]
            return struct.unpack(fmt, data[at:at + size])[0], at + size
        if marker in (b"T", b"F", b"Z"):
            return {b"T": True, b"F": False, b"Z": None}[marker], at
        if marker in (b"S", b"H"):
            size, at = value(at)
            return data[at:at + size].decode(), at + size
        if marker == b"C":
            return chr(data[at]), at + 1
        if marker in (b"[", b"{"):
            return container(at, marker == b"{")
        raise ValueError(f"UBJSON marker {marker!r} at {at - 1}")

    def container(at: int, is_object: bool):
        kind = count = None
        if data[at:at + 1] == b"$":
            kind, at = data[at + 1:at + 2], at + 2
        if data[at:at + 1] == b"#":
            count, at = value(at + 1)
        keys, items = [], []
        while len(items) < count if count is not None else data[at:at + 1] not in (b"]", b"}"):
            if is_object:
                size, at = value(at)
                keys.append(data[at:at + size].decode())
                at += size
            item, at = value(at, kind)
            items.append(item)
        if count is None:
            at += 1
        return (dict(zip(keys, items, strict=True)) if is_object else items), at

    return value(0)[0]


def xgboost_version(path: Path) -> str | None:
    """The XGBoost version a JSON or UBJSON model records, or None when it records none."""
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            version = json.loads(data).get("version")
        except (ValueError, AttributeError):
            return None
    else:
        # The top-level object's last key, a name whose length is an integer of any UBJSON size.
        at = data.rfind(b"version")
        prefixes = (b"i\x07", b"U\x07", b"I\x00\x07", b"l\x00\x00\x00\x07", b"L" + (7).to_bytes(8, "big"))
        if at < 0 or not any(data[at - len(p):at] == p for p in prefixes):
            return None
        try:
            version, _ = _ubj_value(data, at + len(b"version"))
        except (ValueError, struct.error, KeyError):
            return None
    if isinstance(version, list) and version and all(isinstance(v, int) for v in version):
        return ".".join(str(v) for v in version)
    return None


@dataclass(frozen=True)
class Recorded:
    package: str  # the library (scikit-learn, xgboost)
    version: str
    file: Path
    role: str


def recorded_versions(manifest: Manifest) -> list[Recorded]:
    """The library versions the manifest's model files record."""
    found = []
    for role, path in manifest.model.files.items():
        if not path.is_file():
            continue  # the build names the missing file with its manifest line
        if path.suffix in XGBOOST_SUFFIXES:
            version = xgboost_version(path)
            if version:
                found.append(Recorded("xgboost", version, path, role))
        elif path.suffix in PICKLE_SUFFIXES or manifest.model.framework in ("sklearn", "pipeline"):
            found += [Recorded("scikit-learn", v, path, role) for v in sorted(sklearn_versions(path))]
    return found


# ---- the runtime an image is built with


@dataclass(frozen=True)
class Runtime:
    python: str
    packages: dict  # library -> version, declared or recorded in the model files (the rest: the defaults)
    sources: dict  # library -> where its version came from
    extra_requirements: Path | None = None  # a handler's own requirements

    def requirements(self, defaults: Path = DEFAULT_REQUIREMENTS) -> str:
        """The image's requirements: mpkit's defaults with this runtime's versions in place."""
        wanted = {canonical(k): v for k, v in self.packages.items()}
        parsed = []
        for line in defaults.read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9_.-]+)==(\S+)", line)
            name = canonical(match.group(1)) if match else None
            parsed.append((line, "xgboost" if name == "xgboost-cpu" else name, match.group(2) if match else None))
        default_versions = {library: version for _, library, version in parsed if library}
        moved = any(default_versions.get(library) != version for library, version in wanted.items())
        lines = []
        for line, library, _ in parsed:
            if library in wanted:
                lines.append(f"{distribution(library, wanted[library])}=={wanted[library]}")
            elif moved and library in COMPANIONS:
                # The defaults' NumPy, SciPy and pandas were chosen for the default libraries: the
                # resolver picks ones this runtime's versions support.
                lines.append(library + self._companion_bound(library))
            else:
                lines.append(line)
        lines += [f"{distribution(library, version)}=={version}" for library, version in wanted.items()
                  if library not in default_versions]
        text = "\n".join(lines) + "\n"
        if self.extra_requirements:
            text += f"# the handler's own requirements ({self.extra_requirements.name})\n"
            text += self.extra_requirements.read_text().rstrip() + "\n"
        return text

    def _companion_bound(self, library: str) -> str:
        sklearn = self.packages.get("scikit-learn")
        if sklearn and version_tuple(sklearn) < SKLEARN_NUMPY2:
            return {"numpy": "<2", "pandas": "<2.3", "scipy": "<1.14"}.get(library, "")
        return ""


def distribution(library: str, version: str) -> str:
    """The wheel to install for a library at a version."""
    if library == "xgboost":
        return "xgboost-cpu" if version_tuple(version) >= XGBOOST_CPU_FROM else "xgboost"
    return library


def resolve(manifest: Manifest, base_python: str = DEFAULT_PYTHON) -> Runtime:
    """The runtime for this manifest on a base image with `base_python`; a ConfigurationError when
    it contradicts the model files or the base image."""
    declared = manifest.runtime
    recorded = recorded_versions(manifest)
    packages, sources = {}, {}
    for item in recorded:
        if item.package in packages and packages[item.package] != item.version:
            raise ConfigurationError(
                f"{manifest.where('model', 'files', item.role)}: model files record two {item.package} versions "
                f"({packages[item.package]} in {sources[item.package]}, {item.version} in {item.file.name})",
                hint="save every model file with one version of the library (retrain or re-save them together)")
        packages[item.package] = item.version
        sources[item.package] = f"recorded in {item.file.name}"
    problems = []
    for library, version in declared.packages.items():
        library = canonical(library)
        if library in packages and packages[library] != version:
            problems.append(f"{manifest.where('runtime', 'packages', library)}: runtime.packages.{library} is {version}, "
                            f"but {sources[library].removeprefix('recorded in ')} was saved by {library} {packages[library]}")
        packages[library] = version
        sources[library] = "runtime.packages"
    python = declared.python or base_python
    if python != base_python:
        raise ConfigurationError(f"{manifest.where('runtime', 'python')}: runtime.python is {python}, but the base image "
                                 f"has Python {base_python}",
                                 hint=f"pass --base-image with Python {python} (e.g. python:{python}-slim), or declare "
                                      f"runtime.python: \"{base_python}\"")
    if problems:
        raise ConfigurationError(
            "the runtime does not match the model files:\n  " + "\n  ".join(problems),
            hint="declare the version the model was saved with in runtime.packages (or drop it, and mpkit uses the "
                 "recorded one), or retrain and save the model with the declared version")
    return Runtime(python=python, packages=packages, sources=sources, extra_requirements=declared.requirements)
