"""Serve the admission webhooks: the serving certificate first (issued by the operator, or cert-manager's files),
then a kopf operator of its own that runs only the admission handlers.

Its own operator, not the reconciler's: every replica answers the API server, also those waiting for the leader
Lease (the webhook Service sends requests to any ready replica), while only the leader reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import kopf

from otel_operator.admission import names
from otel_operator.admission.configurations import Client, ServiceRef
from otel_operator.admission.server import GuardedWebhookServer
from otel_operator.manifests import BuildOptions
from otel_operator.reconcile.metrics import OperatorMetrics
from otel_operator.serving import ServerLimits

log = logging.getLogger("otel_operator.admission")


class _QuietRefusals(logging.Filter):
    """kopf logs every refused review as an ERROR ("Webhook '...' failed permanently: ..."): a refusal is the webhook
    doing its job, and the handler logs it at INFO already."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not (text.startswith("Webhook '") and "failed permanently" in text)


logging.getLogger("kopf.objects").addFilter(_QuietRefusals())


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Where and how the admission webhooks are served (`otel-operator run --webhooks`)."""

    port: int = names.DEFAULT_PORT
    addr: str | None = None  # None: every interface, IPv4 and IPv6
    host: str | None = None  # another name the API server calls us by (a URL clientConfig): a SAN, and kopf's URL
    namespace: str | None = None  # default: $POD_NAMESPACE, else "default"
    service: str = names.DEFAULT_SERVICE
    secret: str = names.DEFAULT_SECRET
    configuration: str = names.DEFAULT_CONFIGURATION
    cert_dir: str = "/tmp/k8s-webhook-server/serving-certs"
    cert_manager: bool = False  # cert-manager writes the files and injects the caBundle

    def resolved_namespace(self) -> str:
        return self.namespace or os.environ.get("POD_NAMESPACE") or "default"

    def sans(self) -> list[str]:
        """The names the serving certificate is valid for: the Service's DNS names, and `host`."""
        ns = self.resolved_namespace()
        out = [
            self.service,
            f"{self.service}.{ns}",
            f"{self.service}.{ns}.svc",
            f"{self.service}.{ns}.svc.cluster.local",
        ]
        if self.host and self.host not in out:
            out.append(self.host)
        return out

    def conversion_client(self) -> Client:
        """Where the API server calls the CRD's conversion webhook: by URL when `host` names us (the operator on
        loopback, as in tests and `make demo`), else through the Service (port 443, as the chart's)."""
        if self.host:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"https://{host}:{self.port}"
        return ServiceRef(self.service, self.resolved_namespace())

    def cert_file(self) -> Path:
        return Path(self.cert_dir) / "tls.crt"

    def key_file(self) -> Path:
        return Path(self.cert_dir) / "tls.key"


async def serve_admission(
    webhooks: WebhookOptions,
    build_options: BuildOptions,
    *,
    kubeconfig: str | None,
    namespaces: Sequence[str],
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    metrics: OperatorMetrics | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Until `stop` is set: keep the certificate (unless cert-manager does) and answer admission reviews, counted in
    `metrics` (the operator's, served on --metrics-addr), under the serving policy's `limits`."""
    from otel_operator.admission import serving
    from otel_operator.admission.handlers import register, register_namespace_label
    from otel_operator.reconcile.handlers import Context
    from otel_operator.reconcile.login import api_client, register_login

    namespace = webhooks.resolved_namespace()
    api = await api_client(kubeconfig)
    keeper: asyncio.Task[None] | None = None
    try:
        if webhooks.cert_manager:
            await serving.wait_for_files(webhooks.cert_dir, 300, secret_name=webhooks.secret)
            keeper = asyncio.create_task(
                serving.keep_conversion_from_files(
                    api, webhooks.conversion_client(), Path(webhooks.cert_dir) / "ca.crt", stop=stop
                )
            )
        else:
            # the files before kopf's server starts; the keeper's first round (at once) patches the caBundle
            await serving.ensure_certificate(
                api,
                namespace,
                webhooks.secret,
                sans=webhooks.sans(),
                cert_dir=webhooks.cert_dir,
                now=serving.utc_now(),
            )
            keeper = asyncio.create_task(
                serving.keep_certificates(
                    api,
                    namespace,
                    webhooks.secret,
                    configuration_name=webhooks.configuration,
                    sans=webhooks.sans(),
                    cert_dir=webhooks.cert_dir,
                    stop=stop,
                    conversion=webhooks.conversion_client(),
                )
            )
        server = GuardedWebhookServer(
            limits=limits,
            addr=webhooks.addr,
            port=webhooks.port,
            host=webhooks.host,
            certfile=webhooks.cert_file(),
            pkeyfile=webhooks.key_file(),
            file_check_interval=10,  # a renewed certificate is served within seconds
        )
        ctx = Context(build_options, kubeconfig=kubeconfig, metrics=metrics or OperatorMetrics())
        registry = register(kopf.OperatorRegistry(), ctx, server)
        register_login(registry, kubeconfig)
        if not namespaces:  # a watch of namespaces is cluster-wide: for cluster-wide operators only
            register_namespace_label(registry, ctx)
        log.info(
            "serving admission webhooks on %s:%d (configurations %s)",
            webhooks.addr or "*",
            webhooks.port,
            webhooks.configuration,
        )
        await kopf.operator(
            registry=registry,
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=True,
            stop_flag=stop,
            ready_flag=ready,
        )
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await api.close()
