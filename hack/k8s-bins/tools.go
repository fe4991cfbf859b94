//go:build tools

// Package tools pins the control-plane commands that the test harness runs.
// It is never compiled into anything; build.sh builds the commands listed here
// as dependencies of this module, so that go.mod's replace directives apply.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
