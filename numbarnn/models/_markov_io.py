"""A :class:`~numbarnn.MarkovChain` as arrays and back, and from a known matrix.

The fitted state is the count tables (sorted codes and their counts) plus a
few facts; everything else (``transition_``, ``initial_``) is rebuilt from
them, so a saved chain loads bit-identical. The alphabet travels as JSON:
its symbols must be str, int, float or bool.
"""
import json

import numpy as np

from ._sequences import check_states

_TABLES = ("codes", "counts", "ctx_codes", "ctx_totals", "kcodes", "kcounts")
_ATTRS = ("_codes", "_counts", "_ctx_codes", "_ctx_totals", "_kcodes", "_kcounts")


def json_states(states):
    """``(list, dtype str)`` of an alphabet, or TypeError for symbols JSON cannot hold."""
    values = states.tolist()
    for v in values:
        if not isinstance(v, (str, int, float, bool)):
            raise TypeError(f"states: saving needs symbols of type str, int, float or bool, "
                            f"got {type(v).__name__} ({v!r})")
    return values, states.dtype.str if states.dtype.kind != "O" else "object"


def state_dict(chain):
    if not hasattr(chain, "n_states_"):
        return {}
    out = {name: np.ascontiguousarray(getattr(chain, attr)) for name, attr in zip(_TABLES, _ATTRS)}
    states, dtype = (None, None) if chain._identity else json_states(chain.states_)
    ktotal = chain._ktotal
    meta = {"n_states": chain.n_states_, "order": chain._k, "alpha": chain._alpha,
            "dense": bool(chain.dense_), "n_symbols": chain.n_symbols_,
            "ktotal": ktotal if isinstance(ktotal, int) else float(ktotal),
            "states": states, "states_dtype": dtype}
    out["meta"] = np.array(json.dumps(meta))
    return out


def _fail(msg):
    raise ValueError(f"MarkovChain.load_state_dict: {msg}")


def load_state_dict(chain, arrays):
    if not arrays:
        return
    if set(arrays) != set(_TABLES) | {"meta"}:
        _fail(f"expected arrays {sorted(_TABLES + ('meta',))}, got {sorted(arrays)}")
    try:
        meta = json.loads(str(np.asarray(arrays["meta"])[()]))
        S, k, alpha = meta["n_states"], meta["order"], meta["alpha"]
        dense, n_symbols, ktotal = meta["dense"], meta["n_symbols"], meta["ktotal"]
        states, dtype = meta["states"], meta["states_dtype"]
    except (ValueError, KeyError, TypeError) as exc:
        _fail(f"unreadable meta: {exc!r}")
    if not (isinstance(S, int) and S >= 1 and isinstance(k, int) and k >= 0
            and (k + 1) * np.log2(S) < 62 and isinstance(alpha, (int, float)) and alpha >= 0
            and isinstance(dense, bool) and isinstance(n_symbols, int)):
        _fail(f"invalid facts {meta!r}")
    if states is not None:
        if not isinstance(states, list) or len(states) != S:
            _fail(f"states: expected a list of {S} symbols")
        a = np.empty(S, object)
        a[:] = states
        states = check_states(a if dtype == "object" else a.astype(np.dtype(dtype)))
    tables = {}
    for name, size in zip(_TABLES, (S ** (k + 1), None, S ** k, None, S ** k, None)):
        a = np.asarray(arrays[name])
        if a.ndim != 1 or a.dtype.kind not in ("i" if size else "if"):
            _fail(f"{name}: expected a 1-D {'integer' if size else 'numeric'} array, got "
                  f"{a.dtype} of shape {a.shape}")
        if size and a.size and (a[0] < 0 or a[-1] >= size or np.any(np.diff(a) <= 0)):
            _fail(f"{name}: expected sorted distinct codes in [0, {size})")
        if not size and (not np.all(np.isfinite(a)) or np.any(a < 0)):
            _fail(f"{name}: expected finite non-negative counts")
        tables[name] = a.astype(np.int64 if a.dtype.kind == "i" else np.float64)
    for codes, counts in (("codes", "counts"), ("ctx_codes", "ctx_totals"),
                          ("kcodes", "kcounts")):
        if tables[codes].size != tables[counts].size:
            _fail(f"{codes} and {counts} differ in length")
    from .markov import DENSE_MAX

    # A dense table is allocated on load: bound it by what a fit makes (or,
    # for a from_transition chain, by the probabilities actually stored).
    if dense and S ** (k + 1) > max(DENSE_MAX, 4 * tables["codes"].size):
        _fail(f"a dense table of {S}**{k + 1} entries does not fit the stored counts")
    chain.n_states_, chain._k, chain._alpha = S, k, float(alpha)
    chain.dense_, chain.n_symbols_, chain._ktotal = dense, n_symbols, ktotal
    chain.states_ = np.arange(S) if states is None else states
    chain._identity, chain._symbol_index = states is None, None
    for name, attr in zip(_TABLES, _ATTRS):
        setattr(chain, attr, tables[name])
    chain._build_tables()


def from_transition(cls, P, order, states, initial):
    chain = cls(order=order, alpha=0.0, states=states)
    k = int(order)
    P = np.asarray(P)
    if P.dtype.kind not in "iuf":
        raise TypeError(f"P: expected real numbers, got dtype {P.dtype}")
    P = P.astype(np.float64)
    if P.ndim != k + 1 or P.shape[0] < 1 or any(d != P.shape[0] for d in P.shape):
        raise ValueError(f"P: expected shape (S,)*{k + 1} for order={k}, got {P.shape}")
    S = P.shape[0]
    if (k + 1) * np.log2(S) >= 62:
        raise ValueError(f"P: {S}**{k + 1} entries overflow the int64 window codes")
    rows = P.reshape(S ** k, S)
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise ValueError("P: expected finite, non-negative probabilities")
    sums = rows.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 1e-9):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"P: every row must sum to 1; row {bad} sums to {sums[bad]!r}")
    rows = rows / sums[:, None]
    if initial is None:
        init = np.full(S ** k, 1.0 / S ** k)
    else:
        init = np.asarray(initial, dtype=np.float64)
        if init.shape != (S,) * k:
            raise ValueError(f"initial: expected shape {(S,) * k}, got {init.shape}")
        init = init.ravel()
        if not np.all(np.isfinite(init)) or np.any(init < 0) or abs(init.sum() - 1) > 1e-9:
            raise ValueError("initial: expected non-negative probabilities summing to 1")
        init = init / init.sum()
    if states is not None:
        chain.states_, chain._identity = check_states(states), False
        if chain.states_.size != S:
            raise ValueError(f"states: expected {S} symbols (P's size), got "
                             f"{chain.states_.size}")
    else:
        chain.states_, chain._identity = np.arange(S), True
    chain.n_states_, chain._k, chain._alpha, chain._symbol_index = S, k, 0.0, None
    chain.dense_, chain.n_symbols_ = True, 0
    # The probabilities play the counts (each row's total is exactly 1).
    flat = rows.ravel()
    chain._codes = np.flatnonzero(flat)
    chain._counts = flat[chain._codes]
    chain._ctx_codes, chain._ctx_totals = np.arange(S ** k), np.ones(S ** k)
    chain._kcodes = np.flatnonzero(init)
    chain._kcounts = init[chain._kcodes]
    chain._ktotal = 1.0
    chain._build_tables()
    return chain
