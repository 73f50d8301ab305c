"""numbarnn's two GRU forms against ``torch.nn.GRU``, at the bench's shapes.

``python -m numbarnn bench`` times the reset-after GRU only, the form
PyTorch implements. numbarnn's default, reset-before (``reset_after=False``),
does the same arithmetic with the reset gate applied before the candidate's
recurrent product; this times both forms against the same ``torch.nn.GRU``
call, with the bench's habits: the same thread count for both, samples
interleaved, a 0.25 s pause before each (see ``numbarnn/bench/cli.py``), the
median of ``--rounds`` samples. The ratio is torch's time over numbarnn's.

Usage::

    python scripts/gru_forms.py [--shapes S3,S4,S5] [--dtype float32] [--rounds 7]
"""
import argparse
import time

import numpy as np
import torch

import numbarnn
from numbarnn import functional as F
from numbarnn.bench.cases import SHAPES


def timer(fn, pause):
    def sample():
        time.sleep(pause)
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return sample


def contenders(shape, dtype, mode):
    T, B, I, H = SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    w_ih = (0.1 * rng.standard_normal((3 * H, I))).astype(dtype)
    w_hh = (0.1 * rng.standard_normal((3 * H, H))).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    gru = torch.nn.GRU(I, H, dtype=getattr(torch, dtype))
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

    def ours(reset_after):
        if mode == "forward":
            return lambda: F.gru_forward(x, w_ih, w_hh, reset_after=reset_after)
        return lambda: F.gru_backward(
            F.gru_forward(x, w_ih, w_hh, reset_after=reset_after, training=True).cache, dy)

    def theirs():
        if mode == "forward":
            with torch.no_grad():
                gru(xt)
        else:
            xr = xt.detach().requires_grad_(True)
            gru(xr)[0].backward(dyt)

    return {"reset-before": ours(False), "reset-after": ours(True), "torch": theirs}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="S3,S4,S5")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.25)
    a = p.parse_args()
    numbarnn.set_num_threads(a.threads)
    torch.set_num_threads(a.threads)
    print(f"{a.dtype}, {a.threads} threads; torch time / numbarnn time (median ms)")
    for shape in a.shapes.split(","):
        for mode in ("forward", "fwdbwd"):
            fns = contenders(shape, a.dtype, mode)
            for fn in fns.values():  # compile, warm up
                fn()
            samples = {k: [] for k in fns}
            for _ in range(a.rounds):
                for k, fn in fns.items():
                    samples[k].append(timer(fn, a.pause)())
            med = {k: float(np.median(v)) for k, v in samples.items()}
            print(f"{shape} {mode:7s} torch {med['torch'] * 1e3:7.2f} ms | "
                  + " | ".join(f"{k} {med[k] * 1e3:7.2f} ms ({med['torch'] / med[k]:.2f}x)"
                               for k in ("reset-before", "reset-after")))


if __name__ == "__main__":
    main()
