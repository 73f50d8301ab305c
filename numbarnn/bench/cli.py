"""``python -m numbarnn bench``: the ratio table against torch and numpy."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .cases import CELLS, CONTENDERS, DTYPES, MODES, iter_cases, make_data, resolve_shapes
from .contenders import check_agreement
from .runner import (
    NUMPY_MAX_S, machine_info, numbarnn_threads, set_threads, time_case, wait_for_idle,
)

__all__ = ["main"]

# --quick: a CI-sized subset (~20 s once numba's cache is warm). Its pause
# too outlasts OpenBLAS's spin (below): with 0.05 s the numpy loop's BLAS
# threads were still spinning through numbarnn's next sample, and the S2s
# LSTM float32 fwd+bwd read 5.9 ms against 0.84-0.90 ms without the numpy
# contender or with a 0.25 s pause (torch 1.0-1.3 ms either way).
_QUICK = {"cells": ",".join(CELLS), "dtypes": "float32", "modes": ",".join(MODES),
          "shapes": "S2s", "rounds": 3, "pause": 0.15, "min_sample": 0.005}
# The pause outlasts OpenBLAS's idle spin (2^28 cycles, ~0.12 s at 2.3 GHz): with
# 0.1 s the numpy loop's BLAS threads were still spinning when numbarnn's next
# sample began (S3 LSTM float32 forward: 5.4 ms after a 0.1 s pause, 3.7 ms
# after 0.2 s, torch 4.5 ms either way).
_FULL = {"cells": ",".join(CELLS), "dtypes": ",".join(DTYPES), "modes": ",".join(MODES),
         "shapes": "all", "rounds": 5, "pause": 0.25, "min_sample": 0.02}


def _comma_list(allowed):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}; got {text!r}")
        return items

    return parse


def _shape_list(text):
    # S7 (issue 5's large shape) is a GPU-only case: --device cuda takes it
    if text.strip() == "S7" or "S7" in text.split(","):
        rest = ",".join(s for s in text.split(",") if s.strip() != "S7")
        return (resolve_shapes(rest) if rest.strip() else []) + ["S7"]
    try:
        return resolve_shapes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m numbarnn bench",
        description="Time numbarnn's RNN/LSTM/GRU kernels against PyTorch and a plain-numpy "
        "loop in the same run; ratios > 1 mean numbarnn is faster.",
    )
    p.add_argument("--cells", type=_comma_list(CELLS), help="default: rnn,lstm,gru")
    p.add_argument("--dtypes", type=_comma_list(DTYPES), help="default: float32,float64")
    p.add_argument("--modes", type=_comma_list(MODES), help="default: forward,fwdbwd,step")
    p.add_argument("--shapes", type=_shape_list,
                   help="'all' (S1-S6, default), 'smoke' (S1s,S2s,S6s) or a comma list; "
                   "--device cuda also takes S7 and defaults to S1-S7")
    p.add_argument("--contenders", type=_comma_list(CONTENDERS),
                   default=list(CONTENDERS), help="default: numbarnn,torch,numpy")
    p.add_argument("--rounds", type=int, help="samples per contender, median reported (5)")
    p.add_argument("--threads", type=int,
                   help="threads for numbarnn, torch and BLAS (default: numbarnn's count)")
    p.add_argument("--pause", type=float, help="seconds slept before each sample (0.25)")
    p.add_argument("--min-sample", type=float,
                   help="a sample repeats fast calls to last this many seconds (0.02)")
    p.add_argument("--numpy-max", type=float, default=NUMPY_MAX_S,
                   help="skip numpy where one call takes longer, seconds (%(default)s)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="shared machines (Linux): before each row, and before retaking a "
                   "sample that other processes disturbed (up to 3 times), wait up to this "
                   "long for idle CPUs (default: no waiting, no retries)")
    p.add_argument("--quick", action="store_true",
                   help="CI subset: float32, shape S2s, 3 rounds (explicit options win)")
    p.add_argument("--check", action="store_true",
                   help="add a column: largest relative deviation of any contender from numpy")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: numbarnn's GPU kernels against PyTorch + cuDNN (shapes S1-S7; "
                   "exits with status 2 without a GPU)")
    return p


def _fmt_time(s):
    if s is None:
        return None
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _ratio(num, den):
    return None if num is None or den is None else num / den


_COLUMNS = (("cell", 4), ("dtype", 7), ("mode", 7), ("shape", 5), ("T,B,I,H", 15),
            ("numbarnn", 9), ("torch", 9), ("numpy", 9), ("torch/nb", 8), ("numpy/nb", 8),
            ("nb GF/s", 7), ("%peak", 5))


def _row(values, check):
    cells = [f"{v:<{w}}" if i < 5 else f"{v:>{w}}"
             for i, ((_, w), v) in enumerate(zip(_COLUMNS, values))]
    if check is not None:
        cells.append(f"{check:>8}")
    return "  ".join(cells)


def _timing_text(t):
    if t is None:
        return "-"
    if t.median is None:
        return t.note.split(":")[0]  # "n/a" or "skip"
    # '*': some samples ran while other processes kept the CPUs busy.
    return _fmt_time(t.median) + ("*" if t.disturbed else "")


def _settings(args):
    """Options with the --quick or full preset filled in."""
    preset = _QUICK if args.quick else _FULL
    return {
        "cells": args.cells or preset["cells"].split(","),
        "dtypes": args.dtypes or preset["dtypes"].split(","),
        "modes": args.modes or preset["modes"].split(","),
        "shapes": args.shapes or resolve_shapes(preset["shapes"]),
        "contenders": args.contenders,
        "rounds": args.rounds or preset["rounds"],
        "pause": preset["pause"] if args.pause is None else args.pause,
        "min_sample": preset["min_sample"] if args.min_sample is None else args.min_sample,
        "threads": args.threads or numbarnn_threads(),
        "wait_idle": args.wait_idle,
    }


def _run_row(case, opts, args, peaks):
    """Time one case, print its row and return its JSON record and ratios.

    ``peaks`` maps a dtype to the micro-kernel's GFLOP/s on the bench's
    threads (:func:`probe.peak_rate`); the row's share of it is numbarnn's
    rate on the recurrent products over that."""
    data = make_data(case)
    waited, idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else (0.0, None)
    if idle is False:
        print(f"warning: CPUs still busy after {waited:.0f} s; timing {case.group} anyway",
              file=sys.stderr)
    err = None
    if args.check:
        errs = check_agreement(case, args.contenders, data)
        err = f"{max(errs.values()):.1e}" if errs else "-"
    res = time_case(case, args.contenders, rounds=opts["rounds"], pause=opts["pause"],
                    min_sample=opts["min_sample"], numpy_max=args.numpy_max,
                    retries=3 if args.wait_idle > 0 else 0, wait_idle=args.wait_idle,
                    data=data)
    med = {c: (res[c].median if c in res else None) for c in CONTENDERS}
    ratios = {c: _ratio(med[c], med["numbarnn"]) for c in ("torch", "numpy")}
    # the recurrent products' rate, from numbarnn's whole time (a lower bound)
    gflops = None if not med["numbarnn"] else case.recurrent_flops / med["numbarnn"] / 1e9
    peak = peaks.get(case.dtype)
    share = None if gflops is None or not peak else gflops / peak
    print(_row([case.cell, case.dtype, case.mode, case.shape, ",".join(map(str, case.dims)),
                *(_timing_text(res.get(c)) for c in CONTENDERS),
                *(f"{r:.2f}x" if r is not None else "-" for r in ratios.values()),
                "-" if gflops is None else f"{gflops:.3g}",
                "-" if share is None else f"{100 * share:.0f}%"],
               err), flush=True)
    record = {"group": case.group, "cell": case.cell, "dtype": case.dtype, "mode": case.mode,
              "shape": case.shape, "dims": list(case.dims), "max_rel_err": err,
              "recurrent_gflops": gflops, "share_of_peak": share,
              "waited_for_idle_s": round(waited, 1), "found_idle": idle, "ratios": ratios,
              "timings": {c: vars(t) for c, t in res.items()}}
    return record, ratios


def _gpu_main(args):
    """``--device cuda``: the cuDNN/numbarnn table (``bench/gpu.py``)."""
    from . import gpu

    shapes = args.shapes or gpu.DEFAULT_SHAPES
    modes = [{"forward": "fwd"}.get(m, m) for m in (args.modes or ["forward", "fwdbwd"])]
    return gpu.main(args.cells or list(CELLS), args.dtypes or list(DTYPES), modes, shapes,
                    args.rounds or 5, 0.1 if args.quick else 1.0, args.json)


def _probe(scaling, when, quick):
    # the machine's own two-thread scaling (bench/probe.py), which bounds
    # every two-thread figure of the table
    if (os.cpu_count() or 1) < 2:
        return
    from .probe import arithmetic_scaling  # after set_threads has imported torch

    scaling[when] = value = round(arithmetic_scaling(repeat=100 if quick else 500), 2)
    print(f"# arithmetic scaling {when} the table: {value:.2f} (two threads' throughput of "
          "the packed micro-kernel over one thread's: 2.0 = two whole cores, 1.0 = one "
          "core's worth)", flush=True)


def _peaks(dtypes, threads, quick):
    # the micro-kernel's rate on the bench's threads, per dtype: the peak
    # that the %peak column divides by (bench/probe.py)
    from .probe import peak_rate  # after set_threads has imported torch

    peaks = {d: round(peak_rate(d, threads, repeat=100 if quick else 500), 1) for d in dtypes}
    print(f"# peak: the packed micro-kernel on {threads} thread(s) at once: "
          + ", ".join(f"{d} {v:.4g} GFLOP/s" for d, v in peaks.items()), flush=True)
    return peaks


def main(argv=None) -> int:
    """Run the benchmark table; the engine of ``python -m numbarnn bench``.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name; ``sys.argv[1:]``
        when None.

    Returns
    -------
    int
        0 on success, 2 for bad usage or an unavailable device.

    Examples
    --------
    >>> from numbarnn.bench import main
    >>> main(["--quick", "--cells", "rnn", "--contenders", "numpy"])  # doctest: +SKIP
    0
    """
    args = _parser().parse_args(argv)
    if args.device == "cuda":
        return _gpu_main(args)
    if args.shapes and "S7" in args.shapes:
        print("numbarnn bench: S7 is a GPU shape (--device cuda)", file=sys.stderr)
        return 2
    if (args.rounds is not None and args.rounds < 1) or (
            args.threads is not None and args.threads < 1):
        print("numbarnn bench: --rounds and --threads must be >= 1", file=sys.stderr)
        return 2
    opts = _settings(args)

    # Every contender gets the same thread count: numbarnn's unless told otherwise.
    for w in set_threads(opts["threads"]):
        print(f"warning: {w}", file=sys.stderr)
    info = machine_info()
    for key, value in info.items():
        print(f"# {key}: {value}")
    if info.get("load_avg_1min", 0) > 0.5 * (info["cpu_count"] or 1):
        # Other processes on these cores make OpenMP/BLAS workers wait; torch
        # forwards were measured 100x slower, so the ratios mean little.
        print(f"warning: the machine is busy (load {info['load_avg_1min']}, including any "
              "recent run of ours); timings will be noisy; see --wait-idle", file=sys.stderr)
    scaling = info["arithmetic_scaling"] = {}
    _probe(scaling, "before", args.quick)
    peaks = info["peak_gflops"] = _peaks(opts["dtypes"], opts["threads"], args.quick)
    print(f"# rounds={opts['rounds']} pause={opts['pause']}s min_sample={opts['min_sample']}s; "
          "times are medians per call; ratio = other/numbarnn (>1: numbarnn faster); "
          "gru uses reset_after=True (torch's form); nb GF/s = numbarnn's rate on the "
          "recurrent products h·W_hhᵀ alone (Case.recurrent_flops), %peak = that over the "
          "peak above; "
          "* = some samples disturbed by other processes")
    header = _row([name for name, _ in _COLUMNS], "max_err" if args.check else None)
    print(header)
    print("-" * len(header), flush=True)

    records, all_ratios = [], {"torch": [], "numpy": []}
    for case in iter_cases(opts["cells"], opts["dtypes"], opts["modes"], opts["shapes"]):
        record, ratios = _run_row(case, opts, args, peaks)
        records.append(record)
        for c, r in ratios.items():
            if r is not None:
                all_ratios[c].append(r)
        if args.json:
            # Rewritten after every row so an interrupted run keeps what it has.
            with open(args.json, "w") as f:
                json.dump({"machine": info, "settings": opts, "results": records}, f, indent=1)

    _probe(scaling, "after", args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "settings": opts, "results": records}, f, indent=1)
    for c, rs in all_ratios.items():
        if rs:
            gmean = math.exp(sum(map(math.log, rs)) / len(rs))
            print(f"# geometric mean {c}/numbarnn over {len(rs)} rows: {gmean:.2f}x")
    return 0
