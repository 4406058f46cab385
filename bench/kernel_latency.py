"""Kernel latency benchmark: start to first reply, a magic, the first Rust cell using `veil`, later
trivial cells, and later cells that call the session's datasite through the cell bridge.

Run with the project's venv after `veil-kernel install` (scripts/bench-kernel.sh does both). Prints
medians over several fresh kernels; numbers are wall-clock on this machine, so compare them with runs
made on the same machine.
"""

import os
import statistics
import sys
import tempfile
import time

from jupyter_client.manager import start_new_kernel


def run_cell(kc, code, timeout=600):
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"cell failed: {code!r}: {reply['content']}")
    return elapsed


def one_kernel():
    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="veil")  # returns once kernel_info is answered
    started = time.perf_counter() - start
    try:
        magics = [run_cell(kc, "%help") for _ in range(10)]
        run_cell(kc, "%datasite launch bench --reset")
        first = run_cell(kc, "let site = site()?;\nsite.name().len()")
        later = [run_cell(kc, f"let x{i} = {i};") for i in range(5)]
        calls = [run_cell(kc, f"let users{i} = site.login(\"info@openmined.org\", \"changethis\")?.users()?.len();") for i in range(5)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return started, statistics.median(magics), first, statistics.median(later), statistics.median(calls)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as home:
        os.environ["VEIL_HOME"] = home  # the kernels' datasites
        results = [one_kernel() for _ in range(runs)]
    names = [
        "kernel start to kernel_info reply",
        "magic (%help)",
        "first Rust cell (site()?)",
        "later trivial cell",
        "later cell: login + users()",
    ]
    targets = ["< 1 s", "< 20 ms", "< 10 s", "< 1.5 s", "< 1.5 s"]
    print(f"median of {runs} fresh kernels")
    for i, (name, target) in enumerate(zip(names, targets)):
        value = statistics.median(r[i] for r in results)
        shown = f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
        print(f"  {name:<36} {shown:>10}   target {target}")


if __name__ == "__main__":
    main()
