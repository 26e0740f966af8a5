"""otel-operator: an OpenTelemetry Collector operator and Prometheus target allocator for Kubernetes."""

__version__ = "0.1.0"
