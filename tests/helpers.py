"""Shared test helpers: the cell variants, random inputs, comparisons and a
central finite-difference gradient.

A :class:`Variant` describes one cell configuration (kind, gate count and the
keyword options it takes) and knows how to call both numbarnn's functional
API and the plain-numpy oracle in ``tests/reference`` with the same inputs,
so every test is written once and parametrized over ``VARIANTS``.
"""
import dataclasses
import threading
import zlib
import importlib

import numpy as np
import pytest

DTYPES = (np.float32, np.float64)
DTYPE_PARAMS = [pytest.param(d, id=np.dtype(d).name) for d in DTYPES]
# float32 kernels are compared with the float64 oracle.
TOL = {
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
    np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
}
# (T, B, I, H): odd sizes, plus one whose per-step products B·H·G·H are big
# enough for any cell to be worth a BLAS call rather than an inline loop.
SHAPES = [(1, 1, 1, 1), (7, 3, 5, 4), (13, 2, 3, 17), (5, 4, 9, 33), (4, 8, 6, 48)]
SHAPE_PARAMS = [pytest.param(s, id="T{}B{}I{}H{}".format(*s)) for s in SHAPES]

GRAD_OF = {"dx": "x", "dh0": "h0", "dc0": "c0", "dw_ih": "w_ih",
           "dw_hh": "w_hh", "db_ih": "b_ih", "db_hh": "b_hh"}


def functional():
    """numbarnn.functional, imported lazily so reference-only tests run without it."""
    return importlib.import_module("numbarnn.functional")


@dataclasses.dataclass(frozen=True)
class Variant:
    id: str
    kind: str          # "rnn", "lstm" or "gru": names the functions and the oracle
    gates: int
    opts: tuple = ()   # keyword options as (name, value) pairs

    @property
    def options(self):
        return dict(self.opts)

    @property
    def has_cell(self):
        return self.kind == "lstm"

    @property
    def state_names(self):
        return ("h0", "c0") if self.has_cell else ("h0",)

    @property
    def input_names(self):
        return ("x", "w_ih", "w_hh", "b_ih", "b_hh") + self.state_names

    @property
    def out_names(self):
        return ("y", "h_n", "c_n") if self.has_cell else ("y", "h_n")

    @property
    def cot_names(self):
        return ("dy", "dh_n", "dc_n") if self.has_cell else ("dy", "dh_n")

    @property
    def grad_names(self):
        names = ("dx", "dh0", "dc0") if self.has_cell else ("dx", "dh0")
        return names + ("dw_ih", "dw_hh", "db_ih", "db_hh")

    @property
    def reference(self):
        return importlib.import_module("reference." + self.kind)

    # -- inputs -------------------------------------------------------------
    def make_inputs(self, rng, T, B, I, H, dtype=np.float64, bias=True, state=True):
        """Random inputs; ``bias`` / ``state`` may be True, False, or the name
        of the single bias / state to include ("b_ih", "h0", ...)."""
        k = 1.0 / np.sqrt(H)  # PyTorch's default initialisation range
        G = self.gates
        inp = {
            "x": rng.standard_normal((T, B, I)),
            "w_ih": rng.uniform(-k, k, (G * H, I)),
            "w_hh": rng.uniform(-k, k, (G * H, H)),
            "b_ih": rng.uniform(-k, k, G * H),
            "b_hh": rng.uniform(-k, k, G * H),
            "h0": rng.uniform(-0.8, 0.8, (B, H)),
            "c0": rng.standard_normal((B, H)),
        }
        for name in ("b_ih", "b_hh"):
            if bias is not True and bias != name:
                inp[name] = None
        for name in ("h0", "c0"):
            if state is not True and state != name:
                inp[name] = None
        return {n: None if inp[n] is None else inp[n].astype(dtype)
                for n in self.input_names}

    def make_cotangents(self, rng, T, B, H, dtype=np.float64):
        shapes = {"dy": (T, B, H), "dh_n": (B, H), "dc_n": (B, H)}
        return {n: rng.standard_normal(shapes[n]).astype(dtype) for n in self.cot_names}

    # -- numbarnn -----------------------------------------------------------
    def forward(self, inp, **kw):
        fn = getattr(functional(), self.kind + "_forward")
        return fn(*(inp[n] for n in self.input_names), **self.options, **kw)

    def backward(self, cache, cot=None):
        fn = getattr(functional(), self.kind + "_backward")
        cot = cot or {}
        return fn(cache, *(cot.get(n) for n in self.cot_names))

    def forward_backward(self, inp, cot):
        """(outputs dict, gradients dict) from numbarnn."""
        res = self.forward(inp, training=True)
        return self.outputs(res), dict(zip(self.grad_names, self.backward(res.cache, cot)))

    def outputs(self, res):
        return dict(zip(self.out_names, tuple(res)[:len(self.out_names)]))

    # -- oracle -------------------------------------------------------------
    def ref_forward(self, inp):
        outs = self.reference.forward(*(inp[n] for n in self.input_names), **self.options)
        return dict(zip(self.out_names, outs))

    def ref_backward(self, inp, cot):
        grads = self.reference.backward(*(inp[n] for n in self.input_names),
                                        *(cot[n] for n in self.cot_names), **self.options)
        return dict(zip(self.grad_names, grads))

    def loss(self, outs, cot):
        """L = sum(dy*y) + sum(dh_n*h_n) (+ sum(dc_n*c_n)), the scalar whose
        gradient backward computes for the cotangents ``cot``."""
        return sum(float(np.sum(np.asarray(cot["d" + n], np.float64) * outs[n]))
                   for n in self.out_names)


VARIANTS = [
    Variant("rnn_tanh", "rnn", 1, (("nonlinearity", "tanh"),)),
    Variant("rnn_relu", "rnn", 1, (("nonlinearity", "relu"),)),
    Variant("rnn_sigmoid", "rnn", 1, (("nonlinearity", "sigmoid"),)),
    Variant("lstm", "lstm", 4),
    Variant("gru", "gru", 3, (("reset_after", False),)),
    Variant("gru_reset_after", "gru", 3, (("reset_after", True),)),
]
VARIANT_PARAMS = [pytest.param(v, id=v.id) for v in VARIANTS]
KIND_VARIANTS = {v.kind: v for v in reversed(VARIANTS)}  # one default variant per kind
KIND_PARAMS = [pytest.param(KIND_VARIANTS[k], id=k) for k in ("rnn", "lstm", "gru")]


def copies(d):
    return {k: None if v is None else np.array(v, copy=True) for k, v in d.items()}


def assert_close(actual, desired, dtype, name=""):
    """Dtype, shape and values of one numbarnn output against the oracle."""
    if desired is None:
        assert actual is None, f"{name}: expected None, got {type(actual)}"
        return
    assert isinstance(actual, np.ndarray), f"{name}: got {type(actual)}"
    assert actual.dtype == np.dtype(dtype), f"{name}: dtype {actual.dtype} != {np.dtype(dtype)}"
    assert actual.shape == desired.shape, f"{name}: shape {actual.shape} != {desired.shape}"
    np.testing.assert_allclose(actual, desired, err_msg=name, **TOL[np.dtype(dtype)])


def assert_all_close(actual, desired, dtype):
    assert set(actual) == set(desired)
    for name in desired:
        assert_close(actual[name], desired[name], dtype, name)


def assert_identical(a, b):
    """Bit-identical dicts of arrays (or Nones)."""
    assert set(a) == set(b)
    for name in a:
        if a[name] is None or b[name] is None:
            assert a[name] is None and b[name] is None, name
        else:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def fd_gradient(loss, arrays, name, eps=1e-6):
    """Central difference of ``loss()`` w.r.t. ``arrays[name]``, perturbed in place."""
    a = arrays[name]
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + eps
        plus = loss()
        a[idx] = orig - eps
        minus = loss()
        a[idx] = orig
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def rel_error(a, b):
    """Max abs difference over the larger max magnitude (0 when both vanish)."""
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b), initial=0.0) / scale)


def rng_for(*parts):
    """A Generator seeded from the test's parameters (stable across runs,
    unlike ``hash`` of a string)."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def check_against_reference(variant, shape, dtype, bias=True, state=True, tag=()):
    """numbarnn's outputs and gradients against the oracle at one shape
    (the oracle computes in float64 whatever the inputs' dtype)."""
    T, B, I, H = shape
    rng = rng_for(*tag, variant.id, shape, np.dtype(dtype).name, bias, state)
    inp = variant.make_inputs(rng, T, B, I, H, dtype, bias, state)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    outs, grads = variant.forward_backward(inp, cot)
    assert_all_close(outs, variant.ref_forward(inp), dtype)
    assert_all_close(grads, variant.ref_backward(inp, cot), dtype)
    return inp, outs


def run_in_threads(fn, n):
    """Run ``fn(k)`` for k < n in n threads at once; return when all are done."""
    threads = [threading.Thread(target=fn, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
