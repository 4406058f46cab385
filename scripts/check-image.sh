#!/usr/bin/env bash
# Builds the datasite's OCI image (deploy/container/Containerfile, its runtime stage around the test
# build's `veil`: ROOTFS=prebuilt, so CI compiles nothing twice) with buildah, and runs it. This
# machine's container runtime cannot start containers (crun refuses its cgroups' hybrid mode), so the
# image's own root filesystem (buildah mount) runs under unshare: its own mount and PID namespaces,
# the image's user (10001), its environment, and secrets written where a volume would mount them.
# Checks that it answers /health and /ready over HTTPS, refuses a call without a session, and exits 0
# on SIGTERM. Needs root (buildah, unshare); installs buildah from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
veil=${VEIL_BIN:-target/debug/veil}
for tool in buildah curl openssl; do
    if ! command -v "$tool" >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah curl openssl
        break
    fi
done
image=localhost/veil:check
work=$(mktemp -d -t veil-image.XXXXXX)
container=
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    if [ -n "$container" ]; then
        buildah umount "$container" >/dev/null 2>&1 || true
        buildah rm "$container" >/dev/null 2>&1 || true
    fi
    buildah rmi -f "$image" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bash deploy/container/rootfs.sh "$veil" "$work/rootfs"
buildah bud -q --build-arg ROOTFS=prebuilt -f deploy/container/Containerfile -t "$image" "$work" >/dev/null
echo "image: $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image")"
user=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$image")
[ "$user" = "10001:10001" ] || { echo "the image runs as '$user', not the non-root user" >&2; exit 1; }

container=$(buildah from -q "$image")
root=$(buildah mount "$container")
# What an operator mounts at run time (never in the image): the admin's first password and TLS.
secrets="$root/run/secrets/veil"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$secrets/tls.key" -out "$secrets/tls.crt" 2>/dev/null
openssl rand -hex 16 > "$secrets/admin-password"
chown -R 10001:10001 "$secrets"
[ "$(stat -c %u "$root/var/lib/veil")" = 10001 ] || { echo "the volume is not the user's" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mapfile -t environment < <(buildah inspect --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$image" | grep .)
mapfile -t entrypoint < <(buildah inspect --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$image" | grep .)
env -i "${environment[@]}" VEIL_PORT="$port" \
    unshare --mount --pid --fork --mount-proc=/proc --root="$root" --setuid 10001 --setgid 10001 \
    "${entrypoint[@]}" > "$work/out" 2> "$work/err" &
pid=$!
url="https://127.0.0.1:$port"
for _ in $(seq 1 60); do
    curl -sk -o /dev/null "$url/health" && break
    sleep 0.5
done
status() { curl -sk -o /dev/null -w '%{http_code}' "$@"; }
health=$(status "$url/health")
ready=$(status "$url/ready")
anonymous=$(status -X POST -H 'content-type: application/octet-stream' --data-binary x "$url/v1/call")
echo "image running under unshare: /health $health, /ready $ready, a call without a session $anonymous"
if [ "$health" != 200 ] || [ "$ready" != 200 ] || [ "$anonymous" != 401 ]; then
    cat "$work/out" "$work/err" >&2
    exit 1
fi
# SIGTERM to the server itself (unshare's child, PID 1 of its namespace), as a runtime sends it.
kill -TERM "$(pgrep -P "$pid")"
code=0
wait "$pid" || code=$?
pid=
[ "$code" = 0 ] || { echo "SIGTERM: exit $code" >&2; tail -5 "$work/err" >&2; exit 1; }
echo "image: builds, runs as 10001, answers its probes, refuses the anonymous, exits 0 on SIGTERM"
