"""Request bodies into a Table of features, predictions into response bodies.

Inputs: `text/csv` without a header (SageMaker batch splits files into header-less chunks),
`application/json` (`{"instances": [...]}` or a bare list; rows as lists or as objects keyed by
feature name) and `application/jsonlines` (one row per line). Every refusal names the row and
the column it is about, counted from 0.

Small CSV bodies go through the csv module and numpy; large ones through pandas' C parser,
which is several times faster per row once the body is big enough to pay for its set-up.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from .contract import CSV, JSON, JSONLINES
from .errors import BadRequest, NotAcceptable, UnsupportedMediaType
from .spec import ModelSpec

PANDAS_THRESHOLD_BYTES = 8 * 1024
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
    for block, index, missing in (
        (numeric, spec.numeric_index, np.isnan(numeric)),
        (strings, spec.string_index, strings == None),  # noqa: E711
    ):
        if not block.size:
            continue
        required = np.array([spec.features[j].required for j in index], dtype=bool)
        hits = np.argwhere(missing & required)
        if hits.size:
            row, k = int(hits[0][0]), int(hits[0][1])
            name = spec.features[index[k]].name
            raise BadRequest(f"row {row}, column {name!r}: a value is required", row=row, column=name)


def _locate_bad_number(rows, spec: ModelSpec) -> BadRequest:
    for i, row in enumerate(rows):
        for j in spec.numeric_index:
            value = row[j]
            if value is None or value == "":
                continue
            try:
                if isinstance(value, (list, dict, bool)):
                    raise TypeError
                float(value)
            except (TypeError, ValueError):
                name = spec.features[j].name
                return BadRequest(f"row {i}, column {name!r}: {value!r} is not a number", row=i, column=name)
    return BadRequest("a value is not a number")


def _from_cells(cells: np.ndarray, spec: ModelSpec) -> Table:
    """cells: a str array [rows, features] from CSV, empty string = missing."""
    num = cells[:, spec.numeric_index]
    try:
        numeric = np.where(num == "", "nan", num).astype(np.float64)
    except ValueError:
        raise _locate_bad_number(cells, spec) from None
    strings = cells[:, spec.string_index].astype(object)
    strings[strings == ""] = None
    _check_required(numeric, strings, spec)
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
    try:
        numeric = np.array([[r[j] for j in num_idx] for r in ordered], dtype=np.float64).reshape(len(ordered), len(num_idx))
        if any(isinstance(r[j], bool) for r in ordered for j in num_idx):
            raise TypeError
    except (TypeError, ValueError):
        raise _locate_bad_number(ordered, spec) from None
    strings = np.empty((len(ordered), len(str_idx)), dtype=object)
    for i, r in enumerate(ordered):
        for k, j in enumerate(str_idx):
            value = r[j]
            if isinstance(value, (list, dict)):
                name = spec.features[j].name
                raise BadRequest(f"row {i}, column {name!r}: expected a string, got a {type(value).__name__}", row=i, column=name)
            strings[i, k] = None if value is None or value == "" else str(value)
    _check_required(numeric, strings, spec)
    return Table(numeric, strings, spec)


def _csv_with_pandas(body: bytes, spec: ModelSpec) -> Table | None:
    """The fast path for large unquoted bodies; None when the body needs the careful path."""
    import pandas as pd

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
        _check_required(numeric, strings, spec)
        return Table(numeric, strings, spec)
    # Column by column: selecting a sub-frame first costs more than the copy itself.
    numeric = np.empty((len(frame), len(spec.numeric_index)), dtype=np.float64)
    for k, j in enumerate(spec.numeric_index):
        numeric[:, k] = frame[j].to_numpy()
    strings = frame[spec.string_index].to_numpy(dtype=object, copy=True)
    if strings.size:
        strings[(strings == "") | pd.isna(strings)] = None
    _check_required(numeric, strings, spec)
    return Table(numeric, strings, spec)


def _csv_numbers(text: str, body: bytes, spec: ModelSpec) -> Table | None:
    """The fastest path, for large bodies of numbers only with every field filled in (NumPy's C
    parser, no DataFrame); None when the body needs another path, which then names any problem."""
    if body.startswith(b",") or body.rstrip().endswith(b",") or b",," in body or b"\n," in body or b",\n" in body \
            or b",\r" in body:
        return None
    try:
        numeric = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if numeric.shape[1] != len(spec.features) or not len(numeric):
        return None
    strings = np.empty((len(numeric), 0), dtype=object)
    if np.isnan(numeric).any():
        _check_required(numeric, strings, spec)
    return Table(numeric, strings, spec)


def decode_csv(body: bytes, spec: ModelSpec) -> Table:
    text = _text(body)
    if len(body) >= PANDAS_THRESHOLD_BYTES and '"' not in text:
        table = _csv_numbers(text, body, spec) if not spec.string_index else None
        if table is None:
            table = _csv_with_pandas(body, spec)
        if table is not None:
            return table
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
    return _from_cells(np.array(rows, dtype=str).reshape(len(rows), n), spec)


def decode_json(body: bytes, spec: ModelSpec) -> Table:
    try:
        data = json.loads(_text(body))
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
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
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"line {line_no} is not valid JSON: {exc.msg}", row=len(rows)) from None
        rows.append(row)
    return _from_values(rows, spec)


DECODERS = {CSV: decode_csv, JSON: decode_json, JSONLINES: decode_jsonlines}


def decode(body: bytes, media: str, spec: ModelSpec) -> Table:
    if not body.strip():
        raise BadRequest("the body is empty; send at least one row")
    return DECODERS[media](body, spec)


# ---------------------------------------------------------------- encoding

def encode(predictions: np.ndarray, media: str, spec: ModelSpec) -> bytes:
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
