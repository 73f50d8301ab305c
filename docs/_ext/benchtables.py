"""Sphinx extension: the performance page's tables, read from benchmark JSON.

At ``builder-inited`` it writes ``docs/_generated/*.rst`` (list-tables that
``performance.rst`` includes) from

* ``docs/_data/bench.json``: ``python -m numbarnn bench --json`` (kernel
  ratios against PyTorch and plain numpy, with the machine and versions);
* ``docs/_data/bench_parallel.json``: pytest-benchmark's
  ``--benchmark-json`` of ``bench/test_bench_parallel.py``.

A missing file gives a clearly marked placeholder table instead, so the
docs build without benchmark results. :func:`load_kernel_rows` is also used
by the page's bar chart.
"""
import json
import os

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(DOCS, "_data")
OUT = os.path.join(DOCS, "_generated")
KERNEL_JSON = os.path.join(DATA, "bench.json")
PARALLEL_JSON = os.path.join(DATA, "bench_parallel.json")


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fmt_time(s):
    if s is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def _list_table(title, header, rows, widths=None):
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header] + rows:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _machine(info):
    keys = ("cpu", "cpu_count", "platform", "python", "numbarnn", "numba", "numpy", "torch",
            "numbarnn_threads", "load_avg_1min", "peak_gflops", "arithmetic_scaling")
    rows = [[k, str(info[k])] for k in keys if k in info]
    return _list_table("Machine and versions", ["", "value"], rows)


def load_kernel_rows(path=KERNEL_JSON):
    """Rows of ``python -m numbarnn bench --json``, or None without the file."""
    data = _load(path)
    if data is None:
        return None
    rows = []
    for r in data["results"]:
        t = r.get("timings", {})
        rows.append(dict(cell=r["cell"], dtype=r["dtype"], mode=r["mode"], shape=r["shape"],
                         dims=",".join(map(str, r["dims"])),
                         numbarnn=t.get("numbarnn", {}).get("median"),
                         torch=r.get("ratios", {}).get("torch"),
                         numpy=r.get("ratios", {}).get("numpy"),
                         gflops=r.get("recurrent_gflops"),
                         share=r.get("share_of_peak")))
    return data.get("machine", {}), data.get("settings", {}), rows


def kernel_tables():
    loaded = load_kernel_rows()
    if loaded is None:
        note = (".. warning::\n\n   **To be filled.** ``docs/_data/bench.json`` is missing: run\n"
                "   ``python -m numbarnn bench --json docs/_data/bench.json`` on an idle\n"
                "   machine and rebuild. The table below is a placeholder.\n\n")
        return note + _list_table("Kernel ratios (placeholder)",
                                  ["cell", "dtype", "mode", "shape", "numbarnn", "torch/numbarnn",
                                   "numpy/numbarnn"], [["…"] * 7])
    info, settings, rows = loaded
    body = [[r["cell"], r["dtype"], r["mode"], f"{r['shape']} ({r['dims']})",
             _fmt_time(r["numbarnn"]), _ratio(r["torch"]), _ratio(r["numpy"]),
             "–" if r["gflops"] is None else f"{r['gflops']:.3g}",
             "–" if r["share"] is None else f"{100 * r['share']:.0f}%"] for r in rows]
    out = _list_table("Median time per call and ratios (>1: numbarnn faster); numbarnn's "
                      "GFLOP/s on the recurrent products h·W_hhᵀ and its share of the peak "
                      "(the micro-kernel's rate on the same threads)",
                      ["cell", "dtype", "mode", "shape (T,B,I,H)", "numbarnn", "torch/numbarnn",
                       "numpy/numbarnn", "GFLOP/s", "% of peak"], body)
    out += "\n" + _machine(info)
    out += "\nSettings: " + ", ".join(f"``{k}={v}``" for k, v in settings.items()) + "\n"
    return out


def parallel_table():
    data = _load(PARALLEL_JSON)
    if data is None:
        return (".. warning::\n\n   **To be filled.** ``docs/_data/bench_parallel.json`` is "
                "missing: run\n   ``python -m pytest bench/test_bench_parallel.py "
                "--benchmark-json docs/_data/bench_parallel.json``.\n")
    groups = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], []).append(b)
    rows = []
    for group, benches in sorted(groups.items()):
        by_workers = {b["extra_info"].get("workers"): b["stats"]["median"] for b in benches}
        n = benches[0]["extra_info"].get("series")
        one, two, serial = by_workers.get(1), by_workers.get(2), by_workers.get(0)
        rows.append([group.replace("parallel-", ""), str(n), _fmt_time(serial), _fmt_time(one),
                     _fmt_time(two), _ratio(one / two if one and two else None)])
    out = _list_table("fit_many on a LocalCluster: median wall time",
                      ["job", "series", "serial loop", "1 process", "2 processes",
                       "speed-up (1 → 2)"], rows)
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {}).get("brand_raw", m.get("processor", "?"))
    out += (f"\nMachine: {cpu}, {m.get('cpu', {}).get('count', '?')} cores, "
            f"Python {m.get('python_version', '?')}; run {data.get('datetime', '?')}.\n")
    return out


def write_tables(app=None):
    os.makedirs(OUT, exist_ok=True)
    for name, text in (("kernel_table.rst", kernel_tables()),
                       ("parallel_table.rst", parallel_table())):
        path = os.path.join(OUT, name)
        old = open(path).read() if os.path.exists(path) else None
        if text != old:  # unchanged files keep their mtime: no needless rebuilds
            with open(path, "w") as f:
                f.write(text)


def setup(app):
    app.connect("builder-inited", write_tables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
