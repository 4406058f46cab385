#!/usr/bin/env bash
# The browser test: JupyterLab (from the test venv) on loopback with the installed Veil kernel, driven
# by Playwright (playwright-core from npm) in Debian's chromium: opens tutorial 01, runs all cells,
# checks no cell failed, the dataset table rendered and a plot was drawn, then opens the executed
# notebook as a file shared with someone (untrusted) and checks the displays keep their look, then
# that Tab after a method chain's `.` pops up that type's methods; screenshots of the four go under
# target/browser/. Expects the venv on PATH and the kernel installed in it (scripts/test.sh does both).
# Usage: tests/browser/run.sh [NOTEBOOK]   (default: 01-datasets-and-assets.ipynb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
notebook=${1:-01-datasets-and-assets.ipynb}
out="$root/target/browser"
mkdir -p "$out"

if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium (no browser download from elsewhere)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# A copy of the tutorials, so the run writes nothing into the repository, and JupyterLab settings of
# the run's own, so the user's settings change nothing and the run changes none of them: the same
# fresh JupyterLab on every machine, without the first-launch question about fetching news (its toast
# links to a privacy policy page that would open over the notebook).
work=$(mktemp -d -t veil-browser.XXXXXX)
cp -r "$root/notebooks/." "$work/tutorials/"
export JUPYTERLAB_SETTINGS_DIR="$work/lab/settings" JUPYTERLAB_WORKSPACES_DIR="$work/lab/workspaces"
mkdir -p "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/apputils-extension"
echo '{"fetchNews": "false", "checkForUpdates": false}' \
    >"$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
token=$(python -c 'import secrets; print(secrets.token_hex(16))')
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$out/jupyterlab.log"
jupyter lab --no-browser --ip=127.0.0.1 --port="$port" --IdentityProvider.token="$token" \
    --ServerApp.root_dir="$work/tutorials" --LabApp.news_url=None --allow-root \
    >"$log" 2>&1 &
lab=$!
cleanup() {
    kill "$lab" 2>/dev/null || true
    wait "$lab" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
    if curl -fsS "$url/api/status?token=$token" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$lab" 2>/dev/null; then
        echo "JupyterLab exited:"; tail -30 "$log"; exit 1
    fi
    sleep 0.5
done
started=$(date +%s)
if ! node "$here/run_notebook.mjs" "$url" "$token" "$notebook" "$out/${notebook%.ipynb}.png" "$work/tutorials"; then
    echo "--- JupyterLab log (last 40 lines)"; tail -40 "$log"
    exit 1
fi
echo "browser test: passed in $(( $(date +%s) - started )) s"
