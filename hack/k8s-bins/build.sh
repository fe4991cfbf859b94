#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from source
# through the Go module proxy, once per version, into a cache outside the repo.
# Prints the folder holding the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${GATEPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatepass}
dest=$cache_root/k8s-$KUBE_VERSION
bin=$dest/bin
wanted=(kube-apiserver kube-controller-manager kubectl etcd)

have_all() {
  for name in "${wanted[@]}"; do [ -x "$bin/$name" ] || return 1; done
}

if have_all; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "k8s-bins: no Go toolchain on PATH; cannot build the control plane $KUBE_VERSION" >&2
  exit 1
fi

src=$dest/src
mkdir -p "$src" "$bin"
start=$(date +%s)
echo "k8s-bins: building Kubernetes $KUBE_VERSION and etcd into $bin (a cold build takes a while)" >&2

kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
python3 "$here/gen_gomod.py" "$kube_gomod" "$KUBE_VERSION" > "$src/go.mod"
cp "$here/tools.go" "$src/tools.go"
cd "$src"
echo "k8s-bins: resolving modules" >&2
GOFLAGS=-mod=mod go mod tidy >&2

IFS=. read -r major minor _ <<<"${KUBE_VERSION#v}"
pkg=k8s.io/component-base/version
ldflags="-s -w \
 -X $pkg.gitVersion=$KUBE_VERSION \
 -X $pkg.gitMajor=$major \
 -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean \
 -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

build() {
  local out=$1 target=$2
  echo "k8s-bins: building $out" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$out.partial" "$target" >&2
  mv "$bin/$out.partial" "$bin/$out"
}

build etcd go.etcd.io/etcd/server/v3
build kubectl k8s.io/kubernetes/cmd/kubectl
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager

echo "k8s-bins: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
