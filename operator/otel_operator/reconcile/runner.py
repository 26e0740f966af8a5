"""Start the kopf operator with our handlers: used by `otel-operator run` and by the integration tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import kopf

from otel_operator.manifests import DEFAULT_ALLOCATOR_IMAGE, DEFAULT_COLLECTOR_IMAGE, BuildOptions
from otel_operator.reconcile.handlers import Context, register
from otel_operator.reconcile.login import register_login


@dataclass(frozen=True, slots=True)
class OperatorOptions:
    namespaces: Sequence[str] = ()  # empty: every namespace
    kubeconfig: str | None = None
    peering: str | None = None  # None: standalone (one replica); a name: kopf peering between replicas
    liveness: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    log_format: str = "plain"
    verbose: bool = False
    collector_image: str = DEFAULT_COLLECTOR_IMAGE  # when a resource names none
    allocator_image: str = DEFAULT_ALLOCATOR_IMAGE  # the image running `otel-operator allocator`
    allocator_rbac: bool = True  # create the allocator's ClusterRole and binding


def configure_logging(opts: OperatorOptions) -> None:
    fmt = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}[opts.log_format]
    kopf.configure(verbose=opts.verbose, log_format=fmt)


async def run_operator(
    opts: OperatorOptions,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    options = BuildOptions(
        collector_image=opts.collector_image, allocator_image=opts.allocator_image, allocator_rbac=opts.allocator_rbac
    )
    registry = register(kopf.OperatorRegistry(), Context(options, kubeconfig=opts.kubeconfig))
    register_login(registry, opts.kubeconfig)
    await kopf.operator(
        registry=registry,
        clusterwide=not opts.namespaces,
        namespaces=list(opts.namespaces),
        standalone=opts.peering is None,
        peering_name=opts.peering,
        liveness_endpoint=opts.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
