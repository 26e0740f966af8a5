"""Every name the webhooks are known by. The operator serves these paths, the chart's webhook configurations call
them, and `configurations` builds those configurations from these names: one place, so they cannot drift.

Paths are upstream's where upstream has the webhook (a kopf handler's id is its path: kopf serves `/<id>`), so a
cluster migrating from upstream's chart finds the same endpoints. The TargetAllocator webhook is registered for
v1alpha1, the version the CRD serves (upstream registers it for v1beta1, so it never fires).
"""

from __future__ import annotations

from typing import Final

# kopf handler ids, and so the URL paths (without the leading slash)
VALIDATE_COLLECTOR: Final = "validate-opentelemetry-io-v1beta1-opentelemetrycollector"
MUTATE_COLLECTOR: Final = "mutate-opentelemetry-io-v1beta1-opentelemetrycollector"
VALIDATE_ALLOCATOR: Final = "validate-opentelemetry-io-v1alpha1-targetallocator"
MUTATE_POD: Final = "mutate-v1-pod"

# The names of the webhooks inside the configurations (fully qualified, as the API server requires).
COLLECTOR_VALIDATING_WEBHOOK: Final = "vopentelemetrycollector.otel-operator.opentelemetry.io"
ALLOCATOR_VALIDATING_WEBHOOK: Final = "vtargetallocator.otel-operator.opentelemetry.io"
COLLECTOR_MUTATING_WEBHOOK: Final = "mopentelemetrycollector.otel-operator.opentelemetry.io"
# two pod webhooks: pods that ask for a sidecar themselves, and pods in namespaces that ask for them
POD_MUTATING_WEBHOOK: Final = "mpod.otel-operator.opentelemetry.io"
NAMESPACE_POD_MUTATING_WEBHOOK: Final = "mpod-namespace.otel-operator.opentelemetry.io"

# Defaults of `otel-operator run` (the chart passes its release's names instead).
DEFAULT_CONFIGURATION: Final = "otel-operator"  # both the Validating and the Mutating WebhookConfiguration
DEFAULT_SECRET: Final = "otel-operator-webhook-cert"
DEFAULT_SERVICE: Final = "otel-operator-webhook"
DEFAULT_PORT: Final = 9443

# The sidecar annotation (upstream's), on a pod or its namespace: "true", "false", "<name>" or "<namespace>/<name>".
INJECT_ANNOTATION: Final = "sidecar.opentelemetry.io/inject"
# A webhook can select namespaces by label only, so the operator mirrors the namespace annotation into this label
# (value "true" while the annotation is set and not "false"); the namespace pod webhook selects on it.
NAMESPACE_INJECT_LABEL: Final = "otel-operator.opentelemetry.io/sidecar-inject"

# The label that links a collector to a TargetAllocator (manifests.labels.TARGET_ALLOCATOR_LABEL): an update of it alone
# is reviewed, as it changes what the collector is built with.
ALLOCATOR_LINK_LABEL: Final = "opentelemetry.io/target-allocator"

# Short: a slow webhook holds up `kubectl apply` (the API server's maximum is 30).
VALIDATING_TIMEOUT_SECONDS: Final = 5
POD_TIMEOUT_SECONDS: Final = 5

# The OpenTelemetryCollector CRD's conversion webhook (v1alpha1 <-> v1beta1): upstream's path.
CONVERSION_PATH: Final = "/convert"
COLLECTOR_CRD: Final = "opentelemetrycollectors.opentelemetry.io"
