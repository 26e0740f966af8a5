"""The resources otel-operator owns or reads: their CRDs, defaults and validation."""
