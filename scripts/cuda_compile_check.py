"""Compile every CUDA kernel of numbarnn to PTX without a GPU.

The simulator runs kernels as Python and never types them for the device;
this does (numba-cuda's typing, lowering and NVVM), for float32 and float64,
and reports float64 instructions in the float32 kernels (there should be
none). ``--numpy25`` hides ``np.row_stack`` first, as NumPy 2.5 does, to
exercise ``kernels/cuda/compat.py``.

Needs numba-cuda and the NVVM and NVRTC wheels, no driver::

    pip install numba-cuda==0.30.4 nvidia-nvvm nvidia-cuda-nvrtc
    python scripts/cuda_compile_check.py --numpy25
"""
import os
import sys
import types

import numpy as np

if "--numpy25" in sys.argv:
    del np.row_stack
    np.__all__ = [n for n in np.__all__ if n != "row_stack"]

import numba.cuda.dispatcher as _dispatcher  # noqa: E402
from numba import cuda  # noqa: E402
from numba import types as nt  # noqa: E402

# Device functions ask the current device for its compute capability, which
# needs a driver; compile_ptx itself takes cc as an argument.
_dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numbarnn.kernels.cuda import common, gru, lstm, rnn  # noqa: E402


def signatures(fty):
    def A(nd, layout="C", ty=fty):
        return nt.Array(ty, nd, layout)

    a1, a2, a3 = A(1), A(2), A(3)
    i64 = nt.int64
    plan = (i64, i64, i64, i64)
    cells = {
        "rnn": ((a3, a2, i64), (a2, a3, a3, a3, i64)),
        "lstm": ((a3, a2, a2, a3), (a2, a2, a3, a3, a3, a2, a3)),
        "gru": ((a3, a2, a1, a3), (a2, a2, a3, a3, a3, a3, a2, a3, a3)),
    }
    sigs = {}
    dtype = str(fty)
    for cell, (fwd, bwd) in cells.items():
        mod = {"rnn": rnn, "lstm": lstm, "gru": gru}[cell]
        for layout in ("block", "grid"):
            sigs[f"{cell}_forward_{layout}"] = (
                getattr(mod, cell + "_forward")(dtype, layout), (a3, a2, nt.Tuple(fwd), *plan))
            sigs[f"{cell}_backward_{layout}"] = (
                getattr(mod, cell + "_backward")(dtype, layout), (a3, a2, nt.Tuple(bwd), *plan))
    bo = nt.boolean
    fused = {
        "rnn": ((a1, a1, bo, bo, i64), (a3, a3, a2, bo, a3, i64)),
        "lstm": ((a1, a1, bo, bo, a2, bo, a3, a3, a2, bo),
                 (a2, bo, a3, a3, a3, a2, bo, a2, bo, a3, a2)),
        "gru": ((a1, a1, bo, bo, a3, a3, bo), (a2, bo, a3, a3, a3, a3, a2, bo, a3, a3)),
    }
    for cell, (fwd, bwd) in fused.items():
        mod = {"rnn": rnn, "lstm": lstm, "gru": gru}[cell]
        for layout in ("block", "grid"):
            sigs[f"{cell}_forward_fused_{layout}"] = (
                getattr(mod, cell + "_forward_fused")(dtype, layout),
                (a3, a2, a2, a2, bo, a3, a2, nt.Tuple(fwd), *plan))
            sigs[f"{cell}_backward_fused_{layout}"] = (
                getattr(mod, cell + "_backward_fused")(dtype, layout),
                (a2, a3, a2, nt.Tuple(bwd), *plan))
    sigs.update({
        "gru_sequence_forward": (gru.sequence_forward, (a3, nt.boolean, a2, a1, a2, a3, a3)),
        "gru_sequence_backward": (gru.sequence_backward,
                                  (nt.boolean, a2, a2, a3, a3, a3, a3, a2, a2, a3, a3)),
        "fill_bias": (common.fill_bias, (a2, a1, a1, nt.boolean)),
        "column_sum": (common.column_sum, (a2, a1)),
        "flag_nonfinite": (common.flag_nonfinite, (a1, A(1, ty=nt.int32), nt.int64)),
        "copy_3d": (common.copy_3d, (A(3, "A"), a3)),
        "transpose_2d": (common.transpose_2d, (a2, a2)),
    })
    for ta in (False, True):
        for tb in (False, True):
            kernel = common._gemm_kernel(np.dtype(str(fty)), ta, tb)
            sigs[f"gemm_t{int(ta)}{int(tb)}"] = (kernel, (A(2, "A"), A(2, "A"), A(2, "A"), fty))
    return sigs


def main():
    bad = 0
    for fty in (nt.float32, nt.float64):
        for name, (kernel, sig) in signatures(fty).items():
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
            f64 = sum(".f64" in line for line in ptx.splitlines())
            flag = "  <- float64 in a float32 kernel" if fty == nt.float32 and f64 else ""
            bad += bool(flag)
            print(f"{str(fty):8s} {name:28s} ok ({len(ptx)} chars of PTX){flag}")
    print("row_stack present:", hasattr(np, "row_stack"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
