#!/usr/bin/env bash
# Builds the Python base image the operator image is built on, without a
# registry: a minimal Debian bookworm root (debootstrap) with python3 and venv,
# committed with buildah as localhost/gatepass-python:bookworm. Cached: built
# once, then reused. Prints the image name on its last line.
set -euo pipefail

image=localhost/gatepass-python:bookworm
if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

cache_root=${GATEPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatepass}
mkdir -p "$cache_root"
root=$(mktemp -d "$cache_root/python-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "node: debootstrap bookworm (minbase + python3) into $root" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" http://deb.debian.org/debian >&2
ln -sf python3 "$root/usr/bin/python"
# HTTPS to the package index may go through a proxy whose CA only this machine
# trusts: the image trusts what the machine trusts.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

container=$(buildah from scratch)
buildah add --quiet "$container" "$root" / >&2
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd python3 "$container" >&2
buildah commit --quiet --rm "$container" "$image" >&2
echo "node: base image built in $(( $(date +%s) - start ))s" >&2
echo "$image"
