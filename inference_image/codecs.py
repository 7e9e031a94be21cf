"""Request bodies into a Table of features, predictions into response bodies.

Inputs: `text/csv` without a header (SageMaker batch splits files into header-less chunks),
`application/json` (`{"instances": [...]}` or a bare list; rows as lists or as objects keyed by
feature name) and `application/jsonlines` (one row per line). Every refusal names the row and
the column it is about, counted from 0.

A few CSV rows are read cell by cell; more go through the csv module and numpy; large bodies
through NumPy's C parser (numbers only) or pandas' (with strings), several times faster per row
once the body is big enough to pay for its set-up. pandas reads a 1 MB mini-batch of the example
about 2.5 times faster than NumPy's loadtxt can (two passes, and the empty fields to rewrite),
which is why the image keeps pandas where scikit-learn goes.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from dataclasses import dataclass

import numpy as np

from .contract import CSV, JSON, JSONLINES
from .errors import BadRequest, NotAcceptable, UnsupportedMediaType
from .spec import ModelSpec

PANDAS_THRESHOLD_BYTES = 8 * 1024
SMALL_ROWS = 16  # up to this many rows, cells are read one by one (no arrays of text to build)
CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


@dataclass
class Table:
    """Rows of features: numbers as float64 (NaN when missing), strings as objects (None)."""

    numeric: np.ndarray
    strings: np.ndarray
    spec: ModelSpec

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def to_frame(self):
        """A DataFrame in the feature order, missing strings as NaN, as scikit-learn expects."""
        import pandas as pd

        columns = {}
        num_at = {j: k for k, j in enumerate(self.spec.numeric_index)}
        str_at = {j: k for k, j in enumerate(self.spec.string_index)}
        for j, feature in enumerate(self.spec.features):
            if j in num_at:
                columns[feature.name] = self.numeric[:, num_at[j]]
            else:
                col = self.strings[:, str_at[j]].copy()
                col[col == None] = np.nan  # noqa: E711 (element-wise on an object array)
                columns[feature.name] = col
        return pd.DataFrame(columns)


# ---------------------------------------------------------------- media types

def parse_content_type(header: str | None, supported) -> str:
    if not header:
        raise UnsupportedMediaType(f"the request has no Content-Type; send one of {', '.join(supported)}")
    media, _, params = header.partition(";")
    media = media.strip().lower()
    if media not in supported:
        raise UnsupportedMediaType(f"Content-Type {media!r} is not supported; send one of {', '.join(supported)}")
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in CHARSETS:
            raise UnsupportedMediaType(f"charset {value.strip()!r} is not supported; send UTF-8")
    return media


def choose_accept(header: str | None, supported, default: str) -> str:
    """The best supported type for an Accept header; none or `*/*` gives the default."""
    if not header or not header.strip():
        return default
    best, best_q = None, 0.0
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        media = media.lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in ("*/*", "*"):
            candidate = default
        elif media.endswith("/*"):
            prefix = media[:-1]
            candidate = default if default.startswith(prefix) else next((s for s in supported if s.startswith(prefix)), None)
        else:
            candidate = media if media in supported else None
        # Ties go to the earlier entry, which is what the caller listed first.
        if candidate and q > best_q:
            best, best_q = candidate, q
    if best is None:
        raise NotAcceptable(f"Accept {header!r} names nothing this model answers in; ask for one of {', '.join(supported)}")
    return best


# ---------------------------------------------------------------- decoding

def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start})") from None


def _shape_error(row: int, got: int, spec: ModelSpec) -> BadRequest:
    return BadRequest(
        f"row {row} has {got} values; the model takes {len(spec.features)} ({', '.join(spec.names)})", row=row
    )


def _check_required(numeric: np.ndarray, strings: np.ndarray, spec: ModelSpec) -> None:
    for block, index, required, missing in (
        (numeric, spec.numeric_index, spec.required_numeric, np.isnan),
        (strings, spec.string_index, spec.required_strings, lambda b: b == None),  # noqa: E711
    ):
        if not block.size or not any(required):
            continue
        gaps = missing(block) & np.array(required, dtype=bool)
        if gaps.any():
            row, k = (int(v) for v in np.argwhere(gaps)[0])
            name = spec.features[index[k]].name
            raise BadRequest(f"row {row}, column {name!r}: a value is required", row=row, column=name)


# A number as the manifest means one: ASCII digits, an optional sign, point and exponent, and
# finite. Python's float() also takes "inf", "nan", "1_000" and other scripts' digits ("٤٧").
NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
NUMBER_FORM = "ASCII digits with an optional sign, decimal point and exponent, and finite"


def _is_number_text(value: str) -> bool:
    return NUMBER.fullmatch(value) is not None and math.isfinite(float(value))


def _is_number_value(value) -> bool:
    """A JSON value for a numeric feature: a finite JSON number (not a boolean, not a string)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _quoted(value) -> str:
    """The value as the buyer sent it (no NumPy wrapper), quoted, at most 80 characters."""
    text = repr(str(value)) if isinstance(value, str) else json.dumps(value)[:80] if _jsonable(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _locate_bad_number(rows, spec: ModelSpec, is_number) -> BadRequest:
    for i, row in enumerate(rows):
        for j in spec.numeric_index:
            value = row[j]
            if value is None or (isinstance(value, str) and value == "" and is_number is _is_number_text):
                continue
            if not is_number(value):
                name = spec.features[j].name
                kind = "" if is_number is _is_number_text or isinstance(value, (int, float)) else f" (a JSON {_json_kind(value)})"
                return BadRequest(f"row {i}, column {name!r}: {_quoted(value)}{kind} is not a number: send "
                                  f"{NUMBER_FORM}", row=i, column=name)
    return BadRequest(f"a value is not a number: send {NUMBER_FORM}")


def _json_kind(value) -> str:
    return {bool: "boolean", str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _check_categories(strings: np.ndarray, spec: ModelSpec) -> None:
    """A declared category is the only value a string feature takes, unless the seller allows others."""
    for k, j in enumerate(spec.string_index):
        feature = spec.features[j]
        if not feature.categories or feature.allow_unknown or not strings.size:
            continue
        column = strings[:, k]
        outside = [i for i, v in enumerate(column) if v is not None and v not in feature.categories]
        if outside:
            i = outside[0]
            raise BadRequest(f"row {i}, column {feature.name!r}: {_quoted(column[i])} is not one of "
                             f"{', '.join(map(repr, feature.categories))}", row=i, column=feature.name)


def _from_cells(cells: np.ndarray, spec: ModelSpec) -> Table:
    """cells: a str array [rows, features] from CSV, empty string = missing."""
    num = cells[:, spec.numeric_index]
    if any(v != "" and not _is_number_text(str(v)) for v in np.unique(num)):
        raise _locate_bad_number(cells, spec, _is_number_text)
    numeric = np.where(num == "", "nan", num).astype(np.float64)
    strings = cells[:, spec.string_index].astype(object)
    strings[strings == ""] = None
    _check_required(numeric, strings, spec)
    _check_categories(strings, spec)
    return Table(numeric, strings, spec)


def _from_rows(rows: list, spec: ModelSpec) -> Table:
    """A few rows of CSV cells: each cell read once, with no arrays of text (the 1-row path)."""
    num_idx, str_idx = spec.numeric_index, spec.string_index
    numeric = np.empty((len(rows), len(num_idx)), dtype=np.float64)
    fullmatch, nan, isfinite = NUMBER.fullmatch, math.nan, math.isfinite
    for i, row in enumerate(rows):
        out = numeric[i]
        for k, j in enumerate(num_idx):
            value = row[j]
            if value == "":
                out[k] = nan
            elif fullmatch(value) is not None and isfinite(number := float(value)):
                out[k] = number
            else:
                raise _locate_bad_number(rows, spec, _is_number_text)
    strings = np.empty((len(rows), len(str_idx)), dtype=object)
    for i, row in enumerate(rows):
        for k, j in enumerate(str_idx):
            strings[i, k] = row[j] or None
    _check_required(numeric, strings, spec)
    _check_categories(strings, spec)
    return Table(numeric, strings, spec)


def _from_values(rows: list, spec: ModelSpec) -> Table:
    """rows: JSON values, each a list in feature order or an object keyed by feature name."""
    n, names = len(spec.features), spec.names
    ordered = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            unknown = [k for k in row if k not in spec.names]
            if unknown:
                raise BadRequest(f"row {i}: unknown feature {unknown[0]!r}; the features are {', '.join(names)}", row=i, column=unknown[0])
            row = [row.get(name) for name in names]
        elif not isinstance(row, list):
            raise BadRequest(f"row {i} is a {type(row).__name__}; send a list of {n} values or an object keyed by feature name", row=i)
        elif len(row) != n:
            raise _shape_error(i, len(row), spec)
        ordered.append(row)
    if not ordered:
        raise BadRequest("the body holds no rows")
    num_idx, str_idx = spec.numeric_index, spec.string_index
    if not all(r[j] is None or _is_number_value(r[j]) for r in ordered for j in num_idx):
        raise _locate_bad_number(ordered, spec, _is_number_value)
    numeric = np.array([[np.nan if r[j] is None else r[j] for j in num_idx] for r in ordered],
                       dtype=np.float64).reshape(len(ordered), len(num_idx))
    strings = np.empty((len(ordered), len(str_idx)), dtype=object)
    for i, r in enumerate(ordered):
        for k, j in enumerate(str_idx):
            value = r[j]
            if value is not None and not isinstance(value, str):
                name = spec.features[j].name
                raise BadRequest(f"row {i}, column {name!r}: expected a string, got a JSON {_json_kind(value)} "
                                 f"{_quoted(value)}", row=i, column=name)
            strings[i, k] = None if value is None or value == "" else value
    _check_required(numeric, strings, spec)
    _check_categories(strings, spec)
    return Table(numeric, strings, spec)


def preload() -> None:
    """Import the large-body parser now (the server does it before the workers fork), so that no
    worker's first large request waits for it."""
    _pandas()


@functools.lru_cache(maxsize=1)
def _pandas():
    """pandas, when the image has it (the defaults do); without it large bodies take the careful path."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _csv_with_pandas(body: bytes, spec: ModelSpec) -> Table | None:
    """The fast path for large unquoted bodies; None when the body needs the careful path."""
    pd = _pandas()

    n = len(spec.features)
    numbers_only = not spec.string_index
    # One dtype and one NA list when every column is a number: pandas then parses faster.
    dtypes = np.float64 if numbers_only else {j: (np.float64 if j in spec.numeric_index else object) for j in range(n)}
    na_values = [""] if numbers_only else {j: [""] for j in spec.numeric_index}
    try:
        frame = pd.read_csv(
            io.BytesIO(body), header=None, names=list(range(n)), dtype=dtypes,
            keep_default_na=False, na_values=na_values, engine="c",
        )
    except (ValueError, pd.errors.ParserError):
        return None  # a bad value or a long row: the careful path finds and names it
    # pandas pads short rows with NaN: equal comma counts prove every row had n fields.
    if body.count(b",") != len(frame) * (n - 1) or not len(frame):
        return None
    if numbers_only:
        # A single float block: one copy out of it.
        numeric = np.array(frame.to_numpy(dtype=np.float64), dtype=np.float64, order="C")
        strings = np.empty((len(frame), 0), dtype=object)
    else:
        # Column by column: selecting a sub-frame first costs more than the copy itself.
        numeric = np.empty((len(frame), len(spec.numeric_index)), dtype=np.float64)
        for k, j in enumerate(spec.numeric_index):
            numeric[:, k] = frame[j].to_numpy()
        strings = frame[spec.string_index].to_numpy(dtype=object, copy=True)
        if strings.size:
            strings[(strings == "") | pd.isna(strings)] = None
    if np.isinf(numeric).any():
        return None  # the careful path names the cell
    _check_required(numeric, strings, spec)
    _check_categories(strings, spec)
    return Table(numeric, strings, spec)


def _csv_numbers(text: str, body: bytes, spec: ModelSpec) -> Table | None:
    """The fastest path, for large bodies of numbers only with every field filled in (NumPy's C
    parser, no DataFrame); None when the body needs another path, which then names any problem."""
    if body.startswith(b",") or body.rstrip().endswith(b",") or b",," in body or b"\n," in body or b",\n" in body \
            or b",\r" in body or not body.isascii():
        return None
    try:
        numeric = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if numeric.shape[1] != len(spec.features) or not len(numeric):
        return None
    if not np.isfinite(numeric).all():
        return None  # "inf" or "nan" written out: the careful path names the cell
    return Table(numeric, np.empty((len(numeric), 0), dtype=object), spec)


# ASCII whitespace that both fast parsers strip around a number, which the manifest's grammar
# (spaces and tabs only) does not: a body with any takes the careful path, which names the cell.
_OTHER_SPACE = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


def decode_csv(body: bytes, spec: ModelSpec) -> Table:
    text = _text(body)
    if len(body) >= PANDAS_THRESHOLD_BYTES and '"' not in text and not any(c in text for c in _OTHER_SPACE):
        table = _csv_numbers(text, body, spec) if not spec.string_index else None
        if table is None and _pandas() is not None:
            table = _csv_with_pandas(body, spec)
        if table is not None:
            return table
    if '"' not in text and "\r" not in text:
        # Without quotes or carriage returns, the csv module's rows are the lines split at commas.
        rows = [line.split(",") for line in text.split("\n") if line]
    else:
        try:
            rows = [r for r in csv.reader(io.StringIO(text)) if r]
        except csv.Error as exc:
            raise BadRequest(f"the body is not valid CSV: {exc}") from None
    if not rows:
        raise BadRequest("the body holds no rows")
    n = len(spec.features)
    if len(set(map(len, rows))) != 1 or len(rows[0]) != n:
        bad = next(i for i, r in enumerate(rows) if len(r) != n)
        raise _shape_error(bad, len(rows[bad]), spec)
    if len(rows) <= SMALL_ROWS:
        return _from_rows(rows, spec)
    # Object cells, not NumPy strings, which drop trailing NUL characters ("male\x00" would read "male").
    return _from_cells(np.array(rows, dtype=object).reshape(len(rows), n), spec)


class _NotJson(ValueError):
    """What Python's JSON reader takes and JSON does not: NaN, Infinity, a key given twice."""


def _no_constants(name: str):
    raise _NotJson(f"{name} is not a JSON number")


def _no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _NotJson(f"the key {key!r} is given twice in one object")
        seen[key] = value
    return seen


def _load_json(text: str, where: str = "the body"):
    """JSON as the standard says, every failure a BadRequest: syntax, NaN/Infinity, a duplicate
    key, a number with more digits than Python converts, nesting deeper than it recurses."""
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except _NotJson as exc:
        raise BadRequest(f"{where} is not valid JSON: {exc}") from None
    except ValueError:  # Python's limit on integer digits
        raise BadRequest(f"{where} holds a number with too many digits") from None
    except RecursionError:
        raise BadRequest(f"{where} is nested too deeply") from None


def decode_json(body: bytes, spec: ModelSpec) -> Table:
    data = _load_json(_text(body))
    if isinstance(data, dict):
        if "instances" not in data:
            raise BadRequest('a JSON object body needs an "instances" list: {"instances": [[...], ...]}')
        rows = data["instances"]
        if not isinstance(rows, list):
            raise BadRequest('"instances" must be a list of rows')
    elif isinstance(data, list):
        # A bare list of scalars is one row; a list of lists or objects is many.
        rows = [data] if data and not isinstance(data[0], (list, dict)) else data
    else:
        raise BadRequest('the JSON body must be {"instances": [...]} or a list of rows')
    return _from_values(rows, spec)


def decode_jsonlines(body: bytes, spec: ModelSpec) -> Table:
    rows = []
    for line_no, line in enumerate(_text(body).splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(_load_json(line, f"line {line_no}"))
        except BadRequest as exc:
            raise BadRequest(exc.message, row=len(rows)) from None
    return _from_values(rows, spec)


DECODERS = {CSV: decode_csv, JSON: decode_json, JSONLINES: decode_jsonlines}


def decode(body: bytes, media: str, spec: ModelSpec) -> Table:
    if not body.strip():
        raise BadRequest("the body is empty; send at least one row")
    return DECODERS[media](body, spec)


# ---------------------------------------------------------------- encoding

@dataclass
class Classified:
    """A classifier's answer for some rows: labels by class name, probabilities in class order."""

    classes: tuple
    labels: list | None = None
    probabilities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels) if self.labels is not None else len(self.probabilities)


def _records(classified) -> list[dict]:
    """A classifier's answer per row, with the same field names in JSON and JSON Lines."""
    out = []
    for i in range(len(classified)):
        record = {}
        if classified.labels is not None:
            record["label"] = classified.labels[i]
        if classified.probabilities is not None:
            record["probabilities"] = dict(zip(classified.classes, classified.probabilities[i].tolist(), strict=True))
        out.append(record)
    return out


def _encode_classified(classified, media: str) -> bytes:
    if media == JSON:
        return json.dumps({"predictions": _records(classified)}).encode()
    if media == JSONLINES:
        return "".join(json.dumps(r) + "\n" for r in _records(classified)).encode()
    if media == CSV:
        # label, then one probability per class in class order (USAGE.md names the columns).
        stream = io.StringIO()
        writer = csv.writer(stream, lineterminator="\n")
        for i in range(len(classified)):
            row = [classified.labels[i]] if classified.labels is not None else []
            if classified.probabilities is not None:
                row += classified.probabilities[i].tolist()
            writer.writerow(row)
        return stream.getvalue().encode()
    raise NotAcceptable(f"cannot answer in {media}")


def encode(predictions, media: str, spec: ModelSpec) -> bytes:
    if isinstance(predictions, Classified):
        return _encode_classified(predictions, media)
    values = np.asarray(predictions).tolist()
    if media == JSON:
        return json.dumps({"predictions": values}).encode()
    if media == CSV:
        if values and isinstance(values[0], list):
            return ("\n".join(",".join(map(str, row)) for row in values) + "\n").encode()
        return ("\n".join(map(str, values)) + "\n").encode()
    if media == JSONLINES:
        name = spec.output_name
        return ("\n".join(json.dumps({name: v}) for v in values) + "\n").encode()
    raise NotAcceptable(f"cannot answer in {media}")
