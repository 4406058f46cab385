#!/usr/bin/env bash
# Builds and installs the Veil kernel into the project's venv, then runs the tutorial notebooks top to
# bottom on it (nbclient, as a class would with "Run All"), saving the executed copies, outputs and all,
# under target/tutorials/ to open in Jupyter. Their datasites live in target/tutorials/home.
# Usage: scripts/tutorials.sh [NOTEBOOK...]   (default: every notebooks/NN-*.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if command -v rustup >/dev/null; then
    rustup component add rust-src # evcxr reads the standard library's sources
fi
bash scripts/setup-venv.sh
cargo build --locked -p veil-kernel
export VIRTUAL_ENV="$root/.venv" JUPYTER_PATH="$root/.venv/share/jupyter" PATH="$root/.venv/bin:$PATH"
target/debug/veil-kernel install --sys-prefix
out="$root/target/tutorials"
mkdir -p "$out"
export VEIL_HOME="$out/home"
# Notebooks run one after another leave their kernels no quiet moment: the first adopts the warm spare
# install left, and each kernel that spare serves clears it for the next as it stops, rather than
# start a fresh one beside its cells (see kernel/src/spare.rs). The last leaves it waiting.
export VEIL_KERNEL_SPARE="${VEIL_KERNEL_SPARE:-eager}"
if [ $# -eq 0 ]; then
    set -- notebooks/[0-9][0-9]-*.ipynb
fi
python - "$out" "$@" <<'PY'
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

out = pathlib.Path(sys.argv[1])
failed = False
started = time.perf_counter()
for name in sys.argv[2:]:
    path = pathlib.Path(name).resolve()
    nb = nbformat.read(path, as_version=4)
    print(f"running {path.name} ...", flush=True)
    began = time.perf_counter()
    try:
        NotebookClient(nb, kernel_name="veil", timeout=600,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as e:  # the executed copy below shows where
        print(f"  FAILED: {str(e).splitlines()[0] if str(e) else e}")
        failed = True
    # A cell tagged `raises-exception` shows a refusal on purpose (nbclient runs on past it).
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
              and "raises-exception" not in c.get("metadata", {}).get("tags", [])]
    for e in errors:
        print(f"  error in a cell: {e['ename']}: {e['evalue']}")
    failed = failed or bool(errors)
    nbformat.write(nb, out / path.name)
    print(f"  saved {out / path.name} ({time.perf_counter() - began:.1f} s)")
print(f"{len(sys.argv) - 2} notebooks in {time.perf_counter() - started:.1f} s")
sys.exit(1 if failed else 0)
PY
