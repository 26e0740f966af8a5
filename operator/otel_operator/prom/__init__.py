"""Prometheus semantics as pure code: relabeling, Kubernetes discovery labels, scrape configs from monitors.

No I/O here. The allocator feeds these functions cluster objects and serves what they return; `otel-operator
check` runs them on files. Each must agree with Prometheus (and prometheus-operator) exactly.
"""
