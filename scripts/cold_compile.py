"""Cold compile time of the CPU engine's kernels, from an empty cache.

Runs a child Python with ``NUMBA_CACHE_DIR`` pointing at a fresh temporary
directory (so the kernels cached beside the package are not read), which
builds each requested layer kind and dtype and calls what a user would:
a training forward pass, its backward pass, an inference forward pass and
one streaming step. Prints the total and the kernels numba spent longest
compiling, each by its own time (the kernels and helpers it compiled on the
way are counted where they were compiled, not twice)::

    python scripts/cold_compile.py                  # every cell, both dtypes
    python scripts/cold_compile.py --cells lstm --dtypes float32

The figure depends on the machine's minute as much as on the code: compare
two versions of the code in alternation, minutes apart.
"""
import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time
import numpy as np
from numba.core import event

stack, own = [], {}


class Timer(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), 0.0])

    def on_end(self, ev):
        t0, inner = stack.pop()
        t = time.perf_counter() - t0
        if stack:
            stack[-1][1] += t
        f = ev.data["dispatcher"].py_func
        name = f.__module__.rsplit(".", 1)[-1] + "." + f.__name__
        own[name] = own.get(name, 0.0) + t - inner


event.register("numba:compile", Timer())
t_start = time.perf_counter()
import numbarnn

cells, dtypes, top = sys.argv[1].split(","), sys.argv[2].split(","), int(sys.argv[3])
kinds = {"rnn": (numbarnn.RNN, {}), "lstm": (numbarnn.LSTM, {}),
         "gru": (numbarnn.GRU, {"reset_after": True}), "grb": (numbarnn.GRU, {}),
         "lstmproj": (numbarnn.LSTM, {"proj_size": 8})}
rng = np.random.default_rng(0)
for dtype in dtypes:
    for cell in cells:
        cls, kw = kinds[cell]
        layer = cls(3, 20, dtype=dtype, **kw)
        x = rng.standard_normal((7, 4, 3)).astype(dtype)
        y, _ = layer.forward(x)
        layer.backward(np.ones_like(y))
        layer.eval()
        layer.forward(x)
        layer.step(x[0])
total = time.perf_counter() - t_start
print(f"cold compile: {total:.1f} s ({', '.join(cells)}; {', '.join(dtypes)})")
for name, t in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
    print(f"  {t:6.2f} s  {name}")
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="rnn,lstm,gru,grb,lstmproj",
                   help="rnn, lstm, gru (reset-after), grb (reset-before GRU), lstmproj "
                        "(LSTM with proj_size)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--top", type=int, default=12, help="kernels listed")
    args = p.parse_args(argv)
    unknown = set(args.cells.split(",")) - {"rnn", "lstm", "gru", "grb", "lstmproj"}
    if unknown:
        p.error(f"--cells: unknown {sorted(unknown)}; expected rnn, lstm, gru, grb, lstmproj")
    unknown = set(args.dtypes.split(",")) - {"float32", "float64"}
    if unknown:
        p.error(f"--dtypes: unknown {sorted(unknown)}; expected float32, float64")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return subprocess.run([sys.executable, "-c", CHILD, args.cells, args.dtypes,
                               str(args.top)], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
