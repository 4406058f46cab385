#!/usr/bin/env bash
# Renders the Kubernetes manifests (deploy/kubernetes: the datasite, the datasite with a Ballista
# cluster, and with its blobs in a bucket) with their defaults, as `kubectl apply -k` would, and validates every resource against
# Kubernetes' schemas (kubernetes-validate, strict: an unknown field fails). Then checks that every
# VEIL_* variable they set is one `veil serve --help` documents, so a renamed flag cannot leave the
# manifests behind. Needs kubectl (Debian's kubernetes-client; installed here if missing), the
# venv's kubernetes-validate (scripts/setup-venv.sh) and a built `veil` (VEIL_BIN, default
# target/debug/veil).
set -euo pipefail
cd "$(dirname "$0")/.."
veil=${VEIL_BIN:-target/debug/veil}
validate=${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}
if ! command -v kubectl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client
fi
work=$(mktemp -d -t veil-deploy.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r deploy/kubernetes "$work/"
# Throwaway secrets: what an operator writes before applying (deploy/kubernetes/README.md).
for f in admin-password tls.crt tls.key; do
    echo "placeholder for the check" > "$work/kubernetes/datasite/secrets/$f"
done
for f in aws-access-key-id aws-secret-access-key; do
    echo "placeholder for the check" > "$work/kubernetes/with-bucket/secrets/$f"
done
variants="datasite with-ballista with-bucket"
for variant in $variants; do
    kubectl kustomize "$work/kubernetes/$variant" > "$work/$variant.yaml"
    echo "rendered $variant: $(grep -c '^kind:' "$work/$variant.yaml") resources"
done
# The bucket's keys reach the container from the Secret kustomize generated (its name hashed): the
# Secret's name and both references to it.
test "$(grep -Ec 'name: veil-bucket-[a-z0-9]+$' "$work/with-bucket.yaml")" = 3
"$validate" --strict $(for variant in $variants; do echo "$work/$variant.yaml"; done)
help=$("$veil" serve --help)
for var in $(grep -ho 'name: VEIL_[A-Z_]*' "$work"/*.yaml | sed 's/name: //' | sort -u); do
    if ! grep -Eq "\[env: $var[]=]" <<<"$help"; then
        echo "deploy/kubernetes sets $var, which \`veil serve --help\` does not document" >&2
        exit 1
    fi
done
echo "deploy: manifests render, validate and name only veil serve's variables"
