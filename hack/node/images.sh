#!/usr/bin/env bash
# Builds the images a local node runs, without a registry, as OCI archives
# that containerd imports (ctr images import):
#   pause     a tiny static binary (hack/node/pause), cached;
#   operator  this checkout's Dockerfile, on the local Python base image
#             (hack/node/base-image.sh), rebuilt when the sources change.
# Prints the folder holding pause.tar and operator.tar on its last line.
# buildah always runs with --network host: it never creates a network of its own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${GATEPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatepass}
out=$cache_root/images
mkdir -p "$out"
export BUILDAH_ISOLATION=chroot

pause_tag=localhost/gatepass-pause:1
if [ ! -s "$out/pause.tar" ]; then
  echo "node: building the pause image" >&2
  work=$(mktemp -d)
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/pause" .) >&2
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$work/pause" /pause >&2
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$container" >&2
  buildah commit --quiet --rm "$container" "$pause_tag" >&2
  rm -rf "$work"
  buildah push --quiet "$pause_tag" "oci-archive:$out/pause.tar.partial:$pause_tag" >&2
  mv "$out/pause.tar.partial" "$out/pause.tar"
fi

# The operator image: rebuilt when anything it is built from changed (not the dev harness, which
# .dockerignore leaves out of the build context).
stamp=$(cd "$repo" && cat Dockerfile .dockerignore requirements.lock pyproject.toml README.md \
  $(find operator -name '*.py' -not -path 'operator/gatepass/devcluster/*' | sort) | sha256sum | cut -c1-16)
operator_tag=localhost/gatepass-operator:dev
if [ "$(cat "$out/operator.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -s "$out/operator.tar" ] \
  || [ ! -s "$out/operator.id" ]; then
  base=$("$here/base-image.sh" | tail -n1)
  echo "node: building $operator_tag from $repo/Dockerfile" >&2
  start=$(date +%s)
  buildah bud --quiet --network host --layers --build-arg "PYTHON_IMAGE=$base" \
    -t "$operator_tag" "$repo" >&2
  rm -f "$out/operator.tar"
  buildah push --quiet "$operator_tag" "oci-archive:$out/operator.tar.partial:$operator_tag" >&2
  mv "$out/operator.tar.partial" "$out/operator.tar"
  # The image's ID, which the node reports for containers run from it.
  buildah images --no-trunc --format '{{.ID}}' "$operator_tag" | head -n1 > "$out/operator.id"
  echo "$stamp" > "$out/operator.stamp"
  echo "node: operator image built in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
