"""An API answer that says "later" is retried in seconds (kopf.TemporaryError), not after kopf's 60 s for an error."""

from __future__ import annotations

import kopf
import pytest

from otel_operator.reconcile.handlers import TRANSIENT_RETRY_SECONDS, transient_retried_soon
from otel_operator.reconcile.kube import KubeError


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_busy_or_failing_api_is_retried_soon(status: int) -> None:
    with pytest.raises(kopf.TemporaryError) as caught, transient_retried_soon():
        raise KubeError(status, "GET", "/apis/monitoring.coreos.com/v1/podmonitors", "storage is (re)initializing")
    assert caught.value.delay == TRANSIENT_RETRY_SECONDS
    assert "storage is (re)initializing; retrying" in str(caught.value)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_other_answers_are_left_to_the_handler(status: int) -> None:
    with pytest.raises(KubeError), transient_retried_soon():
        raise KubeError(status, "PUT", "/api/v1/namespaces/x/configmaps/y", "no")
