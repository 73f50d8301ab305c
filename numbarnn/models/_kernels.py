"""Numba kernels behind :class:`MarkovChain` and :class:`AutoRegressive`.

Symbols are encoded as base-``S`` numbers, most significant digit first, so
the code of the window ``x[t-k..t]`` is the flat C-order index into a dense
``(S,)*k + (S,)`` table and the codes of all successors of one context are
the contiguous range ``[ctx*S, ctx*S + S)``. A rolling code needs no
division: appending a symbol is ``code*S + x`` and dropping the oldest one
is a subtraction.

No validation here: callers check ranges and shapes first.
"""
import numpy as np

from .._jit import inline, kernel


@kernel
def count_windows(seq, n_states, order, counts_next, counts_ctx):
    """Add the counts of ``seq``'s (order+1)- and order-windows to flat tables.

    ``counts_next`` has ``n_states**(order+1)`` entries, ``counts_ctx``
    ``n_states**order``; both are incremented, so several sequences can be
    counted into the same tables.
    """
    n = seq.shape[0]
    top = n_states ** order  # weight of the oldest digit of a context code
    code = 0
    for t in range(min(order, n)):
        code = code * n_states + seq[t]
    if order >= 1 and n >= order:
        counts_ctx[code] += 1
    for t in range(order, n):
        full = code * n_states + seq[t]
        counts_next[full] += 1
        code = full - seq[t - order] * top
        if order >= 1:
            counts_ctx[code] += 1


@kernel
def window_codes(seq, n_states, width, out):
    """Write the codes of the ``width``-windows of ``seq`` to ``out``.

    ``out`` has ``len(seq) - width + 1`` entries; ``out[i]`` encodes
    ``seq[i:i+width]``.
    """
    n = seq.shape[0]
    top = n_states ** (width - 1)
    code = 0
    for t in range(width - 1):
        code = code * n_states + seq[t]
    for t in range(width - 1, n):
        full = code * n_states + seq[t]
        out[t - width + 1] = full
        code = full - seq[t - width + 1] * top


@inline
def _lookup(codes, counts, c):
    # Count stored for code c in a sorted sparse table (0 when absent).
    j = np.searchsorted(codes, c)
    if j < codes.shape[0] and codes[j] == c:
        return counts[j]
    return 0


@inline
def _log_smoothed(n, total, alpha, n_outcomes):
    # log((n + alpha) / (total + alpha*K)); an empty row (alpha == 0, never
    # seen) falls back to the uniform 1/K rather than 0/0.
    den = total + alpha * n_outcomes
    if den == 0.0:
        return -np.log(n_outcomes)
    return np.log((n + alpha) / den)


@kernel
def sparse_log_likelihood(full_codes, codes, counts, ctx_codes, ctx_totals, n_states, alpha):
    """Sum of log p(x_t | context) over window codes, from sparse count tables."""
    total = 0.0
    for i in range(full_codes.shape[0]):
        c = full_codes[i]
        n = _lookup(codes, counts, c)
        tot = _lookup(ctx_codes, ctx_totals, c // n_states)
        total += _log_smoothed(float(n), float(tot), alpha, float(n_states))
    return total


@kernel
def sample_chain(out, u, order, n_states, alpha, codes, counts, ctx_codes, ctx_totals):
    """Continue ``out[:order]`` to ``len(out)`` symbols, in place.

    The smoothed row p(s|c) = (n(c,s) + alpha) / (N(c) + alpha*S) is the
    mixture "an observed successor drawn by count, with probability
    N(c)/(N(c) + alpha*S), else a uniform symbol", so a step costs one
    binary search instead of building the row. ``u`` holds two uniforms per
    step (which branch, then which symbol). ``codes``/``counts`` is the
    sparse (order+1)-gram table (sorted codes), ``ctx_*`` its row totals.
    """
    n = out.shape[0]
    S = n_states
    top = S ** order
    code = 0
    for t in range(order):
        code = code * S + out[t]
    for t in range(order, n):
        tot = float(_lookup(ctx_codes, ctx_totals, code))
        den = tot + alpha * S
        if den == 0.0 or u[t, 0] * den >= tot:
            s = min(int(u[t, 1] * S), S - 1)
        else:
            # Walk the observed successors of `code` by cumulative count.
            lo = np.searchsorted(codes, code * S)
            hi = np.searchsorted(codes, code * S + S)
            target = u[t, 1] * tot
            acc = 0.0
            j = lo
            while j < hi - 1:
                acc += counts[j]
                if target < acc:
                    break
                j += 1
            s = codes[j] - code * S
        out[t] = s
        full = code * S + s
        code = full - out[t - order] * top


@kernel
def ar_recursion(out, coef, drift, noise):
    """Run x_t = drift_t + sum_j coef[j] @ x_{t-1-j} + noise_t in place.

    ``out`` (N, D) holds the τ starting values in its first rows; rows
    ``τ..N-1`` are written. ``drift`` and ``noise`` are (N, D).
    """
    tau = coef.shape[0]
    D = out.shape[1]
    for t in range(tau, out.shape[0]):
        for d in range(D):
            acc = drift[t, d] + noise[t, d]
            for j in range(tau):
                for e in range(D):
                    acc += coef[j, d, e] * out[t - 1 - j, e]
            out[t, d] = acc
