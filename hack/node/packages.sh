#!/usr/bin/env bash
# Installs the Debian packages a local node needs (container runtime, CNI
# plugins, image tools, nftables for kube-proxy), once: only what is missing.
set -euo pipefail

packages=(containerd runc containernetworking-plugins buildah debootstrap nftables conntrack iptables)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "node: installing ${missing[*]} needs root (apt-get)" >&2
  exit 1
fi
echo "node: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# The node runs its own containerd with its own config and state folders; the
# package's system service is not used.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
