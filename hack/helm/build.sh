#!/usr/bin/env bash
# Builds the helm command from source through the Go module proxy, once per
# version, into a cache outside the repo (like hack/k8s-bins/build.sh does for
# the control plane). Prints the path of the helm binary on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${GATEPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatepass}
dest=$cache_root/helm-$HELM_VERSION
bin=$dest/bin

if [ -x "$bin/helm" ]; then
  echo "$bin/helm"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "helm: no Go toolchain on PATH; cannot build helm $HELM_VERSION" >&2
  exit 1
fi

mkdir -p "$bin"
start=$(date +%s)
echo "helm: building helm $HELM_VERSION into $bin" >&2

# helm reports the Kubernetes version of the client-go it was built with as
# .Capabilities.KubeVersion in `helm template`; its own Makefile sets these.
gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
client_go=$(awk '$1 == "k8s.io/client-go" { print $2 }' "$gomod")
IFS=. read -r _ kube_minor _ <<<"${client_go#v}"
module=helm.sh/helm/v3
ldflags="-s -w \
 -X $module/internal/version.version=$HELM_VERSION \
 -X $module/internal/version.gitTreeState=clean \
 -X $module/pkg/lint/rules.k8sVersionMajor=1 \
 -X $module/pkg/lint/rules.k8sVersionMinor=$kube_minor \
 -X $module/pkg/chartutil.k8sVersionMajor=1 \
 -X $module/pkg/chartutil.k8sVersionMinor=$kube_minor"

tmp=$(mktemp -d "$dest/gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOBIN=$tmp GOFLAGS=-mod=mod \
  go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@$HELM_VERSION" >&2
mv "$tmp/helm" "$bin/helm"

echo "helm: built in $(( $(date +%s) - start ))s" >&2
echo "$bin/helm"
