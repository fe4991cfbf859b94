"""A real Kubernetes control plane on 127.0.0.1, for development and tests only.

It builds nothing itself (``hack/k8s-bins/build.sh`` does); it starts etcd,
kube-apiserver and kube-controller-manager from those binaries, makes the
certificates and identities the project's tests and demo use, and stops it all
again. The operator never imports this package.
"""
