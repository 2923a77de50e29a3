"""A real Kubernetes on one machine, without containers, for testing releases: the launcher, node agent,
service proxy and certificates, the Go build of the control plane, and a pytest plugin (`pytest_plugin`)."""
