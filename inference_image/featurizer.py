"""A fitted scikit-learn ColumnTransformer, compiled at load time into plain array operations.

scikit-learn's per-call overhead dominates small requests: `ColumnTransformer.transform` on one
row costs milliseconds of validation and DataFrame handling around microseconds of arithmetic.
The fitted statistics are all we need, so we read them once and apply them with numpy.

Only steps whose arithmetic is known are compiled (imputers, standard and min-max scaling,
one-hot encoding, passthrough, drop); anything else makes `compile_featurizer` raise
`Unsupported`, and the loader then keeps scikit-learn's own `transform`. Whatever is compiled is
checked against scikit-learn's output on the model's check rows before the server answers a ping.
"""

from __future__ import annotations

import numpy as np

from .errors import BadRequest
from .spec import NUMBER, ModelSpec


class Unsupported(Exception):
    """The featurizer has a step this compiler does not know; use scikit-learn's transform."""


def _steps(transformer) -> list:
    if hasattr(transformer, "steps"):  # a Pipeline
        return [step for _, step in transformer.steps if step not in (None, "passthrough")]
    return [transformer]


def _numeric_block(steps, take):
    """A function of the float matrix of this block's columns, for numeric steps."""
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
            ops.append(lambda x, s=stats: np.where(np.isnan(x), s, x))
        elif kind == "StandardScaler":
            mean = None if step.mean_ is None or not step.with_mean else np.asarray(step.mean_, dtype=np.float64)
            scale = None if step.scale_ is None or not step.with_std else np.asarray(step.scale_, dtype=np.float64)
            ops.append(lambda x, m=mean, s=scale: ((x - m) if m is not None else x) / (s if s is not None else 1.0))
        elif kind == "MinMaxScaler":
            lo, hi = step.feature_range
            clip = bool(getattr(step, "clip", False))
            ops.append(lambda x, a=step.scale_, b=step.min_, c=clip, lo=lo, hi=hi: np.clip(x * a + b, lo, hi) if c else x * a + b)
        else:
            raise Unsupported(f"{kind} on numeric columns")

    def run(numeric, strings):
        x = take(numeric, strings)
        for op in ops:
            x = op(x)
        return x

    return run


def _category_block(steps, take, names):
    """One-hot encoding, with an optional imputer before it, for string (or coded) columns."""
    fill = None
    if type(steps[0]).__name__ == "SimpleImputer":
        imputer = steps.pop(0)
        if getattr(imputer, "add_indicator", False):
            raise Unsupported("SimpleImputer(add_indicator=True)")
        fill = list(imputer.statistics_)
    if len(steps) != 1 or type(steps[0]).__name__ != "OneHotEncoder":
        raise Unsupported("categorical steps other than [SimpleImputer,] OneHotEncoder")
    encoder = steps[0]
    if encoder.drop is not None or getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with drop or infrequent categories")
    ignore = encoder.handle_unknown in ("ignore", "infrequent_if_exist")
    lookups, offsets, width = [], [], 0
    for cats in encoder.categories_:
        lookups.append({c: i for i, c in enumerate(cats.tolist())})
        offsets.append(width)
        width += len(cats)

    def run(numeric, strings):
        cols = take(numeric, strings)
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


def compile_featurizer(column_transformer, spec: ModelSpec):
    """A function (numeric, strings) -> float64 matrix equal to `column_transformer.transform`."""
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
            cols = [num_at[j] for j in idx]
            blocks.append(_numeric_block(steps, lambda num, st, c=cols: num[:, c]))
        elif steps:
            if all(spec.features[j].type != NUMBER for j in idx):
                cols = [str_at[j] for j in idx]
                take = lambda num, st, c=cols: st[:, c]  # noqa: E731
            else:
                raise Unsupported("a block mixing numeric and string columns")
            blocks.append(_category_block(list(steps), take, names))
        else:
            raise Unsupported("passthrough of string columns")

    def transform(numeric: np.ndarray, strings: np.ndarray) -> np.ndarray:
        parts = [block(numeric, strings) for block in blocks]
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    return transform
