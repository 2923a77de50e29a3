"""Composable CI steps for zero-downtime Kubernetes releases."""

__version__ = "0.1.0"
