#!/usr/bin/env bash
# Lays out the image's root filesystem in DIR around the `veil` binary BIN: the binary, the shared
# libraries it links (found by ldd: glibc, libm, libgcc_s), the certificate authorities that HTTPS to
# a blob store's bucket is checked against (the build machine's, from Debian's ca-certificates), a
# non-root user `veil` (10001), and the
# mount point of its secrets (the Containerfile makes the volume's directory, /var/lib/veil, as it). The one definition of what the image holds: the
# Containerfile runs it on the release build, and scripts/check-image.sh on the test build.
# Usage: rootfs.sh BIN DIR
set -euo pipefail
bin=$1
root=$2
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/run/secrets/veil"
install -m 0755 "$bin" "$root/usr/local/bin/veil"
strip "$root/usr/local/bin/veil" 2>/dev/null || true
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
mkdir -p "$root/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
echo 'veil:x:10001:10001:veil:/var/lib/veil:/nonexistent' > "$root/etc/passwd"
echo 'veil:x:10001:' > "$root/etc/group"
chmod 1777 "$root/tmp"
