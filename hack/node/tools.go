//go:build tools

// Package tools pins the node's commands; hack/node/build.sh builds them as
// dependencies of this module, so that go.mod's replace directives apply.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
