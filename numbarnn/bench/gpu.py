"""GPU timings: numbarnn's CUDA kernels against PyTorch + cuDNN, same process.

``python -m numbarnn bench --device cuda`` prints, per case, the median
time of each contender and cuDNN/numbarnn (above 1: numbarnn is faster),
the figure issue 5 asks for. The shapes are the CPU table's S1-S6 plus
S7 (T=100, B=256, I=512, H=1024). Each timed call ends with a device
synchronisation; the first call of each contender (compilation, cuDNN's
plan choice, first-touch allocations) is not timed. The GRU runs in
cuDNN's form (``reset_after=True``); PyTorch's defaults apply to cuDNN,
TF32 for float32 included. ``bench/test_bench_cuda.py`` times the same
cases under pytest-benchmark.
"""
import time

import numpy as np

from .cases import SHAPES, SMOKE_SHAPES, Shape

#: S1-S6 of the CPU table and S7 of issue 5 (the default list), and the
#: CPU table's short smoke shapes.
GPU_SHAPES = dict(SHAPES, S7=Shape(100, 256, 512, 1024), **SMOKE_SHAPES)
DEFAULT_SHAPES = [*SHAPES, "S7"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
GPU_MODES = ("fwd", "fwdbwd")


def host_data(cell, dtype, shape):
    """The inputs of one case as host arrays (PyTorch's initialisation range).

    Examples
    --------
    >>> d = host_data("gru", "float32", "S1")
    >>> d["w_hh"].shape, d["x"].dtype.name
    ((96, 32), 'float32')
    """
    T, B, I, H = GPU_SHAPES[shape]
    G = GATES[cell]
    rng = np.random.default_rng(0)
    k = 1.0 / np.sqrt(H)
    arrays = dict(x=rng.standard_normal((T, B, I)), w_ih=rng.uniform(-k, k, (G * H, I)),
                  w_hh=rng.uniform(-k, k, (G * H, H)), b_ih=rng.uniform(-k, k, G * H),
                  b_hh=rng.uniform(-k, k, G * H), dy=rng.standard_normal((T, B, H)))
    return {n: a.astype(dtype) for n, a in arrays.items()}


def numbarnn_runner(cell, mode, data):
    """A no-argument callable running numbarnn's GPU pass on ``data``.

    ``check_finite=False``: the check costs a device round trip per call,
    which cuDNN does not make either.

    Examples
    --------
    >>> data = host_data("lstm", "float32", "S1")
    >>> run = numbarnn_runner("lstm", "fwdbwd", data)  # doctest: +SKIP
    >>> run()  # one forward+backward pass on the GPU, synchronised  # doctest: +SKIP
    """
    from numba import cuda

    from .. import functional as F

    d = {n: cuda.to_device(a) for n, a in data.items()}
    fwd, bwd = getattr(F, cell + "_forward"), getattr(F, cell + "_backward")
    opts = {"gru": {"reset_after": True}}.get(cell, {})
    args = (d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    if mode == "fwd":
        def run():
            fwd(*args, **opts, check_finite=False)
            cuda.synchronize()
    else:
        def run():
            res = fwd(*args, **opts, training=True, check_finite=False)
            bwd(res.cache, d["dy"])
            cuda.synchronize()
    return run


def cudnn_runner(cell, mode, data):
    """The same pass through ``torch.nn.RNN/LSTM/GRU`` on the GPU (cuDNN).

    Raises ImportError without torch and RuntimeError when torch has no CUDA.

    Examples
    --------
    >>> run = cudnn_runner("gru", "fwd", host_data("gru", "float64", "S2"))  # doctest: +SKIP
    >>> run()  # doctest: +SKIP
    """
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch has no CUDA here")
    T, B, I = data["x"].shape
    H = data["w_hh"].shape[1]
    dtype = getattr(torch, str(data["x"].dtype))
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    mod = cls(I, H).to(device="cuda", dtype=dtype)
    x = torch.as_tensor(data["x"], device="cuda").requires_grad_(mode == "fwdbwd")
    dy = torch.as_tensor(data["dy"], device="cuda")
    if mode == "fwd":
        def run():
            with torch.no_grad():
                mod(x)
            torch.cuda.synchronize()
    else:
        def run():
            mod(x)[0].backward(dy)
            torch.cuda.synchronize()
    return run


RUNNERS = {"numbarnn": numbarnn_runner, "cudnn": cudnn_runner}


def median_time(run, rounds=5, budget_s=1.0, max_calls=100):
    """Median seconds per call of ``run`` after one untimed call: at least
    ``rounds`` calls and ``budget_s`` seconds, at most ``max_calls`` calls.

    Examples
    --------
    >>> calls = []
    >>> median_time(lambda: calls.append(1), rounds=3, budget_s=0.0) >= 0, len(calls)
    (True, 4)
    """
    run()
    times, start = [], time.perf_counter()
    while len(times) < rounds or (time.perf_counter() - start < budget_s
                                  and len(times) < max_calls):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def time_cases(cells, dtypes, modes, shapes, rounds=5, budget_s=1.0, out=print):
    """Time every case for both contenders; {group: {contender: seconds}}.

    A contender that cannot run (no torch, no CUDA in torch) is reported and
    left out. ``out`` gets one table line per case as it completes.

    Examples
    --------
    >>> medians = time_cases(["rnn"], ["float64"], ["fwd"], ["S1"])  # doctest: +SKIP
    >>> sorted(medians["rnn-float64-fwd-S1"])  # doctest: +SKIP
    ['cudnn', 'numbarnn']
    """
    medians = {}
    for shape in shapes:
        for cell in cells:
            for dtype in dtypes:
                for mode in modes:
                    group = f"{cell}-{dtype}-{mode}-{shape}"
                    data = host_data(cell, dtype, shape)
                    for name, make in RUNNERS.items():
                        try:
                            run = make(cell, mode, data)
                        except (ImportError, RuntimeError) as exc:
                            out(f"{group} {name}: skipped ({exc})")
                            continue
                        medians.setdefault(group, {})[name] = median_time(run, rounds, budget_s)
                    out(table_line(group, medians.get(group, {})))
    return medians


def table_header():
    """The column titles of :func:`table_line`.

    Examples
    --------
    >>> table_header().split()[:3]
    ['case', 'numbarnn', 'ms']
    """
    return f"{'case':32s} {'numbarnn ms':>12s} {'cudnn ms':>10s} {'cudnn/numbarnn':>15s}"


def table_line(group, t):
    """One line: both medians in ms and cuDNN/numbarnn.

    Examples
    --------
    >>> table_line("lstm-float64-fwd-S1", {"numbarnn": 0.002, "cudnn": 0.02}).split()
    ['lstm-float64-fwd-S1', '2.000', '20.000', '10.00']
    """
    nb, cu = t.get("numbarnn"), t.get("cudnn")
    ratio = f"{cu / nb:15.2f}" if nb and cu else f"{'-':>15s}"
    fmt = lambda v: f"{v * 1e3:.3f}" if v else "-"  # noqa: E731
    return f"{group:32s} {fmt(nb):>12s} {fmt(cu):>10s} {ratio}"


def main(cells, dtypes, modes, shapes, rounds, budget_s, json_path=None):
    """``python -m numbarnn bench --device cuda``; returns the exit status.

    Examples
    --------
    >>> from numbarnn.bench.gpu import main
    >>> main(["lstm"], ["float32"], ["fwd"], ["S1"], 3, 0.2)  # doctest: +SKIP
    0
    """
    import json
    import sys

    from ..functional.device import cuda_modules

    try:
        cuda_modules()
    except RuntimeError as exc:
        print(f"numbarnn bench --device cuda: {exc}", file=sys.stderr)
        return 2
    print(table_header(), flush=True)
    medians = time_cases(cells, dtypes, modes, shapes, rounds, budget_s,
                         out=lambda line: print(line, flush=True))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(medians, f, indent=1, sort_keys=True)
    return 0
