#!/usr/bin/env bash
# Builds kubelet, kube-proxy and kube-scheduler (same version as the control
# plane, hack/k8s-bins) through the Go module proxy, into the control plane's
# binary folder, once. Prints that folder on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$("$here/../k8s-bins/build.sh" | tail -n1)
# shellcheck source=../k8s-bins/versions.env
. "$here/../k8s-bins/versions.env"
wanted=(kubelet kube-proxy kube-scheduler)

have_all() {
  for name in "${wanted[@]}"; do [ -x "$bin/$name" ] || return 1; done
}
if have_all; then
  echo "$bin"
  exit 0
fi

src=$(dirname "$bin")/node-src
mkdir -p "$src"
start=$(date +%s)
echo "node: building ${wanted[*]} $KUBE_VERSION into $bin" >&2
kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
python3 "$here/../k8s-bins/gen_gomod.py" "$kube_gomod" "$KUBE_VERSION" > "$src/go.mod"
cp "$here/tools.go" "$src/tools.go"
cd "$src"
GOFLAGS=-mod=mod go mod tidy >&2

IFS=. read -r major minor _ <<<"${KUBE_VERSION#v}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for name in "${wanted[@]}"; do
  echo "node: building $name" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.partial" "k8s.io/kubernetes/cmd/$name" >&2
  mv "$bin/$name.partial" "$bin/$name"
done
echo "node: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
