"""A real Kubernetes control plane on 127.0.0.1, for development and tests only.

It builds nothing itself (``hack/k8s-bins/build.sh`` does); it starts etcd,
kube-apiserver and kube-controller-manager from those binaries, makes the
certificates and identities the project's tests and demo use, and stops it all
again. ``installgen`` writes the install files (``make manifests``).

Development only: it may import every other package, the operator never
imports it, and it is left out of the operator's image (.dockerignore).
"""
