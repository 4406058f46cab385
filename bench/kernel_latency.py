"""Kernel latency benchmark: start to first reply, a magic, the first Rust cell using `veil`, later
trivial cells, and later cells that call the session's datasite through the cell bridge.

The first Rust cell is measured twice: on a cold kernel (spares off: evcxr's context starts when the
kernel does) and on a kernel that adopts the warm spare the kernel before it started (waiting for
the spare to be ready first, as a class's next notebook would find it).

Run with the project's venv after `veil-kernel install` (scripts/bench-kernel.sh does both). Prints
medians over several fresh kernels; numbers are wall-clock on this machine, so compare them with runs
made on the same machine.
"""

import os
import socket
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


def spare_socket():
    cache = os.environ.get("VEIL_KERNEL_CACHE")
    if not cache:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cache = os.path.join(base, "veil", "kernel")
    return os.path.join(cache, "spare.sock")


def spare_ready():
    """Whether a spare listens (one that answers a connection that sends nothing keeps waiting)."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(spare_socket())
        return True
    except OSError:
        return False


def wait_for_spare(limit=600):
    start = time.perf_counter()
    while not spare_ready():
        if time.perf_counter() - start > limit:
            raise SystemExit(f"no warm spare at {spare_socket()} after {limit} s")
        time.sleep(0.2)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as home:
        os.environ["VEIL_HOME"] = home  # the kernels' datasites
        os.environ["VEIL_KERNEL_SPARE"] = "off"
        cold = [one_kernel() for _ in range(runs)]
        os.environ["VEIL_KERNEL_SPARE"] = "on"
        km, kc = start_new_kernel(kernel_name="veil")
        run_cell(kc, "1")
        kc.stop_channels()
        km.shutdown_kernel()  # as Jupyter closes a notebook: the kernel starts the first spare
        warm = []
        for _ in range(runs):
            wait_for_spare()
            warm.append(one_kernel())
    names = [
        "kernel start to kernel_info reply",
        "magic (%help)",
        "first Rust cell (site()?)",
        "later trivial cell",
        "later cell: login + users()",
    ]
    targets = ["< 1 s", "< 20 ms", "< 3 s", "< 300 ms", "< 1.5 s"]
    print(f"median of {runs} fresh kernels, cold (spares off) / adopting a warm spare")
    for i, (name, target) in enumerate(zip(names, targets)):
        values = [statistics.median(r[i] for r in results) for results in (cold, warm)]
        shown = " / ".join(f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s" for v in values)
        print(f"  {name:<36} {shown:>22}   target {target}")


if __name__ == "__main__":
    main()
