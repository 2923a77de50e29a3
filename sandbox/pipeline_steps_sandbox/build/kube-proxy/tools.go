//go:build tools

// Package tools pins kube-proxy, which build-kube-proxy.sh compiles. It lives in a wrapper module of
// its own (the same requirements as ../kube plus what kube-proxy alone needs) so that adding it does
// not change the control plane's go.sum, and with it the control plane's cache key.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
