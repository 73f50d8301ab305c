"""pytest-benchmark: MarkovChain and AutoRegressive against their peers.

The model figures of issue 4, ratios measured in the same run:

* ``markov-fit`` / ``markov-loglik``: ``MarkovChain(order=3)`` on 10^7
  symbols (S=4) against a plain-numpy counter (codes of the windows by
  Horner's rule, ``np.bincount``, the same normalisation and uniform
  fallback; log-likelihood as a gather of log-probabilities);
* ``markov-*-pomegranate``: the same at 10^5 symbols with pomegranate's
  ``MarkovChain(k=3)`` (torch) added, when it is installed: it needs
  ~10 s for 10^5 symbols on the project machine, too slow for 10^7;
* ``ar-fit`` / ``var-fit``: ``AutoRegressive`` against statsmodels
  ``AutoReg`` / ``VAR`` on the same series, each producing coefficients,
  residual variance and log-likelihood.

``test_*_agree`` check first that the contenders compute the same thing.
Under ``--benchmark-disable`` (or ``--bench-shapes=smoke``) every size is
small, for the smoke run.

    python -m pytest bench/test_bench_models.py --benchmark-group-by=group
"""
import importlib

import numpy as np
import pytest

from numbarnn import AutoRegressive, MarkovChain, datasets
from numbarnn.bench import numbarnn_threads, set_threads, warm_up

ORDER, S = 3, 4
FULL = dict(markov=10_000_000, pomegranate=100_000, ar=100_000, var=20_000)
SMOKE = dict(markov=10_000, pomegranate=1_000, ar=2_000, var=1_000)
AR_ORDER, VAR_ORDER, VAR_D = 10, 4, 3


@pytest.fixture(scope="module")
def sizes(bench_smoke):
    return SMOKE if bench_smoke else FULL


@pytest.fixture(scope="module", autouse=True)
def _same_threads():
    set_threads(numbarnn_threads())


def _module_or_skip(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not installed")


# -- Markov chains ---------------------------------------------------------------
def _symbols(n):
    return datasets.markov_source(order=ORDER, n_states=S, n=n, seed=0)[0]


def _numpy_codes(x, width):
    # Horner's rule over shifted views: what a numpy user writes.
    n = x.size - width + 1
    codes = x[:n].astype(np.int64)
    for j in range(1, width):
        codes = codes * S + x[j:j + n]
    return codes


def numpy_fit(x):
    counts = np.bincount(_numpy_codes(x, ORDER + 1), minlength=S ** (ORDER + 1))
    kcounts = np.bincount(_numpy_codes(x, ORDER), minlength=S ** ORDER)
    rows = counts.reshape(-1, S).astype(float)
    totals = rows.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        trans = np.where(totals > 0, rows / totals, 1.0 / S)
    return trans.reshape((S,) * (ORDER + 1)), kcounts / kcounts.sum()


def numpy_log_likelihood(fitted, x):
    trans, initial = fitted
    with np.errstate(divide="ignore"):
        logp = np.log(trans).ravel()
        start = np.log(initial.ravel()[_numpy_codes(x[:ORDER], ORDER)[0]])
    return float(start + logp[_numpy_codes(x, ORDER + 1)].sum())


def _pomegranate(x):
    _module_or_skip("pomegranate")
    torch = _module_or_skip("torch")
    from pomegranate.markov_chain import MarkovChain as PgMarkovChain

    return torch.tensor(x.reshape(1, -1, 1)), PgMarkovChain


def _markov_fit(contender, x):
    if contender == "numbarnn":
        return lambda: MarkovChain(order=ORDER, n_states=S).fit(x)
    if contender == "numpy":
        return lambda: numpy_fit(x)
    X, PgMarkovChain = _pomegranate(x)
    return lambda: PgMarkovChain(k=ORDER).fit(X)


def _markov_loglik(contender, x):
    if contender == "numbarnn":
        m = MarkovChain(order=ORDER, n_states=S).fit(x)
        return lambda: m.log_likelihood(x)
    if contender == "numpy":
        fitted = numpy_fit(x)
        return lambda: numpy_log_likelihood(fitted, x)
    X, PgMarkovChain = _pomegranate(x)
    m = PgMarkovChain(k=ORDER).fit(X)
    return lambda: m.log_probability(X)


def test_markov_agree(sizes):
    x = _symbols(sizes["pomegranate"])
    ours = MarkovChain(order=ORDER, n_states=S).fit(x)
    trans, _ = numpy_fit(x)
    np.testing.assert_allclose(ours.transition_, trans, rtol=1e-15)
    want = numpy_log_likelihood((trans, ours.initial_.ravel()), x)
    assert ours.log_likelihood(x) == pytest.approx(want, rel=1e-10)


def test_markov_agrees_with_pomegranate(sizes):
    x = _symbols(sizes["pomegranate"])
    X, PgMarkovChain = _pomegranate(x)
    theirs = PgMarkovChain(k=ORDER).fit(X).distributions[-1].probs[0].numpy()
    ours = MarkovChain(order=ORDER, n_states=S).fit(x).transition_
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)  # pomegranate works in float32


@pytest.mark.parametrize("contender", ["numbarnn", "numpy"])
@pytest.mark.parametrize("what", ["fit", "loglik"])
def test_markov(benchmark, sizes, what, contender):
    n = sizes["markov"]
    x = _symbols(n)
    fn = (_markov_fit if what == "fit" else _markov_loglik)(contender, x)
    warm_up(fn)
    benchmark.group = f"markov-{what}-order{ORDER}-S{S}-n{n}"
    benchmark.extra_info.update(contender=contender, n=n, order=ORDER, n_states=S)
    benchmark(fn)


@pytest.mark.parametrize("contender", ["numbarnn", "numpy", "pomegranate"])
@pytest.mark.parametrize("what", ["fit", "loglik"])
def test_markov_pomegranate(benchmark, sizes, what, contender):
    n = sizes["pomegranate"]
    x = _symbols(n)
    fn = (_markov_fit if what == "fit" else _markov_loglik)(contender, x)
    fn()  # pomegranate takes seconds a call: one untimed call, then two rounds
    benchmark.group = f"markov-{what}-order{ORDER}-S{S}-n{n}-pomegranate"
    benchmark.extra_info.update(contender=contender, n=n, order=ORDER, n_states=S)
    benchmark.pedantic(fn, rounds=2 if contender == "pomegranate" else 20, iterations=1)


# -- autoregressive models ---------------------------------------------------------
def _series(kind, n):
    if kind == "ar":
        return datasets.arma([0.5, -0.2, 0.1], [0.3], n, seed=0)
    rng = np.random.default_rng(0)
    return np.stack([datasets.arma([0.5, -0.2], [], n, seed=rng) for _ in range(VAR_D)], 1)


def _ar_fit(contender, kind, y):
    order = AR_ORDER if kind == "ar" else VAR_ORDER
    if contender == "numbarnn":
        def ours():
            m = AutoRegressive(order).fit(y)
            return m.coef_, m.llf_
        return ours
    _module_or_skip("statsmodels")
    from statsmodels.tsa.api import VAR
    from statsmodels.tsa.ar_model import AutoReg

    def theirs():
        res = AutoReg(y, lags=order).fit() if kind == "ar" else VAR(y).fit(order)
        return (res.params[1:] if kind == "ar" else res.coefs), res.llf
    return theirs


@pytest.mark.parametrize("kind", ["ar", "var"])
def test_ar_agree(sizes, kind):
    y = _series(kind, sizes[kind])
    (c1, l1), (c2, l2) = _ar_fit("numbarnn", kind, y)(), _ar_fit("statsmodels", kind, y)()
    np.testing.assert_allclose(c1, c2, rtol=1e-8)
    assert l1 == pytest.approx(l2, rel=1e-10)


@pytest.mark.parametrize("contender", ["numbarnn", "statsmodels"])
@pytest.mark.parametrize("kind", ["ar", "var"])
def test_ar_fit(benchmark, sizes, kind, contender):
    n = sizes[kind]
    fn = _ar_fit(contender, kind, _series(kind, n))
    warm_up(fn)
    dims = f"order{AR_ORDER}" if kind == "ar" else f"order{VAR_ORDER}-D{VAR_D}"
    benchmark.group = f"{kind}-fit-{dims}-n{n}"
    benchmark.extra_info.update(contender=contender, n=n)
    benchmark(fn)
