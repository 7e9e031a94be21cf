"""A shorter call into XGBoost for dense float rows, used only where it answers exactly as
`Booster.inplace_predict` does.

`inplace_predict` spends about half of a 1-row call in Python: it rebuilds its arguments and
walks a chain of type checks for data frames, arrow tables and GPU arrays before it calls
`XGBoosterPredictFromDense`. For a C-contiguous float64 NumPy matrix, which is all the image
ever passes, the arguments never change: they are made once here and the C function is called
directly. XGBoost's Python internals differ between versions (the runtime follows the model),
so the path is built only when every piece is found, and kept only when its answers equal the
library's own on the check rows and on random rows (`verified`); otherwise the library's call
stays.
"""

from __future__ import annotations

import ctypes
import logging
import math

import numpy as np

log = logging.getLogger("mpkit.model")


class DirectPredict:
    def __init__(self, booster):
        from xgboost import core

        self._lib = core._LIB
        self._check = core._check_call
        self._ulong = core.c_bst_ulong
        self._handle = booster.handle
        self._args = core.make_jcargs(type=0, training=False, iteration_begin=0, iteration_end=0, missing=np.nan,
                                      strict_shape=False, cache_id=0)
        self._no_proxy = ctypes.c_void_p()

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.dtype != np.float64 or not matrix.flags["C_CONTIGUOUS"]:
            matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        rows, columns = matrix.shape
        # NumPy's __array_interface__ (version 3) as XGBoost reads it, for a C-ordered float64 matrix.
        interface = b'{"data":[%d,true],"shape":[%d,%d],"strides":null,"typestr":"<f8","version":3}' % (
            matrix.ctypes.data, rows, columns)
        preds = ctypes.POINTER(ctypes.c_float)()
        shape = ctypes.POINTER(self._ulong)()
        dims = self._ulong()
        self._check(self._lib.XGBoosterPredictFromDense(self._handle, interface, self._args, self._no_proxy,
                                                        ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(preds)))
        out_shape = shape[:dims.value]
        count = math.prod(out_shape)
        # The booster reuses this buffer on its next call: copy out of it (string_at copies).
        data = ctypes.string_at(preds, count * 4) if count else b""
        return np.frombuffer(data, dtype=np.float32).reshape(out_shape).copy()


def verified(booster, features: int, check: np.ndarray | None = None):
    """The direct call for this booster, or None when it is not to be had or differs at all."""
    try:
        direct = DirectPredict(booster)
        rng = np.random.default_rng(0)
        samples = [rng.normal(size=(n, features)) * 100 for n in (1, 7, 64)]
        if check is not None and len(check):
            samples.append(np.ascontiguousarray(check, dtype=np.float64))
        with_gaps = samples[1].copy()
        with_gaps[::2, 0] = np.nan
        samples.append(with_gaps)
        for sample in samples:
            if not np.array_equal(direct(sample), booster.inplace_predict(sample), equal_nan=True):
                log.warning("the direct XGBoost call differs from inplace_predict: using inplace_predict")
                return None
        return direct
    except Exception as exc:  # another XGBoost, other internals: the library's call it is
        log.info("direct XGBoost call not available (%s): using inplace_predict", exc)
        return None
