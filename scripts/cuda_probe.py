"""Device facts the GPU kernels' design rests on, printed on a real GPU.

``python scripts/cuda_probe.py``: grid-wide synchronisation latency and the
largest cooperative grid, the cost of an empty launch, cuDNN's LSTM at S7
with and without TF32 (torch enables TF32 for cuDNN by default), the time
loops' chosen layout per benchmark shape, and LSTM forward+backward times
with each layout forced, and with the chunked loops in place of the fused
ones (what ``steps.plan_steps``' choice and the fused loops are checked
against).
"""
import time

import numpy as np
from numba import cuda

from numbarnn.kernels.cuda import compat  # noqa: F401


@cuda.jit
def grid_syncs(n, out):
    g = cuda.cg.this_grid()
    for _ in range(n):
        g.sync()
    if cuda.grid(1) == 0:
        out[0] = n


@cuda.jit
def empty(out):
    pass


def timeit(f, reps=20):
    f()
    cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main():
    dev = cuda.get_current_device()
    print("device", dev.name, "SMs", dev.MULTIPROCESSOR_COUNT,
          "max shared/block", dev.MAX_SHARED_MEMORY_PER_BLOCK)
    out = cuda.device_array(1, np.int64)
    print(f"empty launch {timeit(lambda: empty[1, 32](out)) * 1e6:.1f} us")
    for threads in (128, 256, 512):
        grid_syncs[1, threads](1, out)
        kern = next(iter(grid_syncs.overloads.values()))
        mx = kern.max_cooperative_grid_blocks(threads)
        for nb in sorted({dev.MULTIPROCESSOR_COUNT, mx}):
            t1 = timeit(lambda: grid_syncs[nb, threads](1, out), 5)
            t2 = timeit(lambda: grid_syncs[nb, threads](1001, out), 3)
            print(f"threads {threads} max coop blocks {mx}: {nb} blocks grid.sync "
                  f"{(t2 - t1) / 1000 * 1e6:.2f} us")
    layouts()
    try:
        import torch
    except ImportError:
        return
    for tf32 in (True, False):
        torch.backends.cudnn.allow_tf32 = tf32
        mod = torch.nn.LSTM(512, 1024).cuda()
        x = torch.randn(100, 256, 512, device="cuda")

        def f():
            with torch.no_grad():
                mod(x)
        t = timeit(f, 5)
        print(f"cuDNN LSTM S7 float32 fwd allow_tf32={tf32}: {t * 1e3:.3f} ms")


def layouts():
    from numbarnn import functional as F
    from numbarnn.bench.gpu import DEFAULT_SHAPES, GPU_SHAPES
    from numbarnn.kernels.cuda import steps

    shapes = {name: GPU_SHAPES[name] for name in DEFAULT_SHAPES}
    for name, (T, B, I, H) in shapes.items():
        print(name, "G=4 float32", steps.plan_steps(4, B, H, 4), "float64",
              steps.plan_steps(4, B, H, 8))
    rng = np.random.default_rng(0)
    for name in ("S1", "S2", "S3", "S4", "S5", "S6"):
        T, B, I, H = shapes[name]
        for dtype in ("float32", "float64"):
            d = {k: cuda.to_device(rng.uniform(-0.1, 0.1, s).astype(dtype)) for k, s in
                 dict(x=(T, B, I), w_ih=(4 * H, I), w_hh=(4 * H, H), dy=(T, B, H)).items()}
            line = []
            for force in (None, "block", "grid", "chunked"):
                if force == "block" and (H > 256 or 8 * H * np.dtype(dtype).itemsize > 40960):
                    continue
                steps.FORCE_LAYOUT = None if force == "chunked" else force
                steps.FORCE_FUSED = False if force == "chunked" else None

                def run():
                    res = F.lstm_forward(d["x"], d["w_ih"], d["w_hh"], training=True,
                                         check_finite=False)
                    F.lstm_backward(res.cache, d["dy"])
                try:
                    line.append(f"{force or 'auto'} {timeit(run, 5) * 1e3:.3f} ms")
                except Exception as exc:  # report and go on: this is a probe
                    line.append(f"{force or 'auto'} failed: {type(exc).__name__}: {exc}")
            steps.FORCE_LAYOUT, steps.FORCE_FUSED = None, None
            print(f"lstm fwd+bwd {name} {dtype}: " + ", ".join(line), flush=True)


if __name__ == "__main__":
    main()
