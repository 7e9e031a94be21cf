"""A fitted scikit-learn ColumnTransformer, compiled into plain array operations.

scikit-learn's per-call overhead dominates small requests: `ColumnTransformer.transform` on one
row costs milliseconds of validation and DataFrame handling around microseconds of arithmetic.
The fitted statistics are all we need: `describe_featurizer` reads them once into a plan of plain
numbers (JSON), and `build_featurizer` applies a plan with numpy alone. The image's build step
(prepare.py) writes the plan next to the model, checked against scikit-learn's own output, so an
image whose model needs nothing else can leave scikit-learn out.

Only steps whose arithmetic is known are compiled (imputers, standard and min-max scaling,
one-hot encoding, passthrough, drop); anything else raises `Unsupported`, and the loader then
keeps scikit-learn's own `transform`. Whatever is compiled is checked against scikit-learn's
output on the model's check rows before the server answers a ping.
"""

from __future__ import annotations

import numpy as np

from .errors import BadRequest
from .spec import NUMBER, ModelSpec

PLAN_FORMAT = 1


class Unsupported(Exception):
    """The featurizer has a step this compiler does not know; use scikit-learn's transform."""


def _steps(transformer) -> list:
    if hasattr(transformer, "steps"):  # a Pipeline
        return [step for _, step in transformer.steps if step not in (None, "passthrough")]
    return [transformer]


def _numeric_ops(steps) -> list[dict]:
    """The arithmetic of this block's numeric steps, as plain numbers."""
    ops = []
    for step in steps:
        kind = type(step).__name__
        if kind == "SimpleImputer":
            if getattr(step, "add_indicator", False):
                raise Unsupported("SimpleImputer(add_indicator=True)")
            if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
                raise Unsupported("SimpleImputer with missing_values other than NaN")
            stats = np.asarray(step.statistics_, dtype=np.float64)
            if np.isnan(stats).any():
                raise Unsupported("SimpleImputer that drops all-missing columns")
            ops.append({"op": "impute", "values": stats.tolist()})
        elif kind == "StandardScaler":
            mean = None if step.mean_ is None or not step.with_mean else np.asarray(step.mean_, dtype=np.float64).tolist()
            scale = None if step.scale_ is None or not step.with_std else np.asarray(step.scale_, dtype=np.float64).tolist()
            ops.append({"op": "standard", "mean": mean, "scale": scale})
        elif kind == "MinMaxScaler":
            lo, hi = step.feature_range
            ops.append({"op": "minmax", "scale": np.asarray(step.scale_, dtype=np.float64).tolist(),
                        "min": np.asarray(step.min_, dtype=np.float64).tolist(),
                        "clip": bool(getattr(step, "clip", False)), "range": [float(lo), float(hi)]})
        else:
            raise Unsupported(f"{kind} on numeric columns")
    return ops


def _numeric_block(block: dict):
    """A function of the float matrix of this block's columns."""
    ops = []
    for op in block["ops"]:
        if op["op"] == "impute":
            stats = np.asarray(op["values"])
            ops.append(lambda x, s=stats: np.where(np.isnan(x), s, x))
        elif op["op"] == "standard":
            mean = None if op["mean"] is None else np.asarray(op["mean"])
            scale = None if op["scale"] is None else np.asarray(op["scale"])
            ops.append(lambda x, m=mean, s=scale: ((x - m) if m is not None else x) / (s if s is not None else 1.0))
        elif op["op"] == "minmax":
            lo, hi = op["range"]
            scale, shift = np.asarray(op["scale"]), np.asarray(op["min"])
            ops.append(lambda x, a=scale, b=shift, c=op["clip"], lo=lo, hi=hi: np.clip(x * a + b, lo, hi) if c else x * a + b)
        else:
            raise Unsupported(f"numeric step {op['op']!r}")
    columns = block["columns"]

    def run(numeric, strings):
        x = numeric[:, columns]
        for op in ops:
            x = op(x)
        return x

    return run


def _category_plan(steps, columns: list[int], names: list[str]) -> dict:
    """One-hot encoding, with an optional imputer before it, for string (or coded) columns."""
    fill = None
    if type(steps[0]).__name__ == "SimpleImputer":
        imputer = steps.pop(0)
        if getattr(imputer, "add_indicator", False):
            raise Unsupported("SimpleImputer(add_indicator=True)")
        fill = np.asarray(imputer.statistics_).tolist()
    if len(steps) != 1 or type(steps[0]).__name__ != "OneHotEncoder":
        raise Unsupported("categorical steps other than [SimpleImputer,] OneHotEncoder")
    encoder = steps[0]
    if encoder.drop is not None or getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with drop or infrequent categories")
    return {"kind": "onehot", "columns": columns, "names": names, "fill": fill,
            "ignore": encoder.handle_unknown in ("ignore", "infrequent_if_exist"),
            "categories": [cats.tolist() for cats in encoder.categories_]}


def _category_block(block: dict):
    columns, names, fill, ignore = block["columns"], block["names"], block["fill"], block["ignore"]
    lookups, offsets, width = [], [], 0
    for cats in block["categories"]:
        lookups.append({c: i for i, c in enumerate(cats)})
        offsets.append(width)
        width += len(cats)

    def run(numeric, strings):
        cols = strings[:, columns]
        n = cols.shape[0]
        out = np.zeros((n, width), dtype=np.float64)
        rows = np.arange(n)
        for k, lookup in enumerate(lookups):
            column = cols[:, k].tolist()
            if fill is not None:
                # `v != v` is true only for NaN: a missing value however the codec spelled it.
                column = [fill[k] if v is None or v != v else v for v in column]
            hits = np.array([lookup.get(v, -1) for v in column], dtype=np.intp)
            unknown = hits < 0
            if unknown.any():
                if not ignore:
                    i = int(np.argmax(unknown))
                    raise BadRequest(f"row {i}, column {names[k]!r}: unknown category {column[i]!r}", row=i, column=names[k])
                rows_k, hits = rows[~unknown], hits[~unknown]
            else:
                rows_k = rows
            out[rows_k, offsets[k] + hits] = 1.0
        return out

    return run


def describe_featurizer(column_transformer, spec: ModelSpec) -> dict:
    """The fitted ColumnTransformer's arithmetic as plain JSON data (PLAN_FORMAT): which of the
    spec's numeric or string columns each block takes, and the numbers each step applies."""
    if type(column_transformer).__name__ != "ColumnTransformer":
        raise Unsupported(f"{type(column_transformer).__name__} is not a ColumnTransformer")
    fitted_names = [str(c) for c in getattr(column_transformer, "feature_names_in_", spec.names)]
    position = {f.name: j for j, f in enumerate(spec.features)}
    num_at = {j: k for k, j in enumerate(spec.numeric_index)}
    str_at = {j: k for k, j in enumerate(spec.string_index)}
    blocks = []
    for _, transformer, columns in column_transformer.transformers_:
        if transformer == "drop":
            continue
        if isinstance(columns, slice) or callable(columns):
            raise Unsupported("column selection by slice or callable")
        names = [fitted_names[c] if isinstance(c, (int, np.integer)) else str(c) for c in columns]
        if not names:
            continue
        missing = [n for n in names if n not in position]
        if missing:
            raise Unsupported(f"columns {missing} are not features of the manifest")
        idx = [position[n] for n in names]
        all_numeric = all(spec.features[j].type == NUMBER for j in idx)
        steps = [] if transformer == "passthrough" else _steps(transformer)
        if all_numeric and not any(type(s).__name__ == "OneHotEncoder" for s in steps):
            blocks.append({"kind": "numeric", "columns": [num_at[j] for j in idx], "ops": _numeric_ops(steps)})
        elif steps:
            if not all(spec.features[j].type != NUMBER for j in idx):
                raise Unsupported("a block mixing numeric and string columns")
            blocks.append(_category_plan(list(steps), [str_at[j] for j in idx], names))
        else:
            raise Unsupported("passthrough of string columns")
    if not blocks:
        raise Unsupported("a ColumnTransformer that keeps no columns")
    return {"format": PLAN_FORMAT, "features": spec.names, "blocks": blocks}


def build_featurizer(plan: dict):
    """A function (numeric, strings) -> float64 matrix from a plan; numpy only."""
    if plan.get("format") != PLAN_FORMAT:
        raise Unsupported(f"featurizer plan format {plan.get('format')!r} (this image reads {PLAN_FORMAT})")
    blocks = [_numeric_block(b) if b["kind"] == "numeric" else _category_block(b) for b in plan["blocks"]]

    def transform(numeric: np.ndarray, strings: np.ndarray) -> np.ndarray:
        parts = [block(numeric, strings) for block in blocks]
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    return transform


def compile_featurizer(column_transformer, spec: ModelSpec):
    """A function (numeric, strings) -> float64 matrix equal to `column_transformer.transform`."""
    return build_featurizer(describe_featurizer(column_transformer, spec))
