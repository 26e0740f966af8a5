"""Where the operator points the collector CRD's conversion webhook."""

from __future__ import annotations

from otel_operator.admission.configurations import ServiceRef, client_config
from otel_operator.admission.runner import WebhookOptions


def test_in_the_cluster_the_conversion_goes_through_the_webhook_service() -> None:
    options = WebhookOptions(namespace="ops", service="rel-otel-operator-webhook")
    assert options.conversion_client() == ServiceRef("rel-otel-operator-webhook", "ops", 443)
    assert client_config(options.conversion_client(), "convert", b"CA") == {
        "service": {"name": "rel-otel-operator-webhook", "namespace": "ops", "path": "/convert", "port": 443},
        "caBundle": "Q0E=",
    }


def test_an_operator_called_by_url_gets_it_by_url() -> None:
    assert WebhookOptions(host="127.0.0.1", port=9443).conversion_client() == "https://127.0.0.1:9443"
    assert WebhookOptions(host="::1", port=9443).conversion_client() == "https://[::1]:9443"
