"""Kubernetes service discovery: cluster objects → target groups with Prometheus's `__meta_kubernetes_*` labels."""
