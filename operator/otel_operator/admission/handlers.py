"""kopf admission handlers: the API server calls these before it stores an OpenTelemetryCollector or a
TargetAllocator, and before it creates a pod that asks for a sidecar.

Thin on purpose: the decisions are `manifests.validation.review` (the same review `otel-operator check resources`
and the reconciler make), `manifests.defaults` and `manifests.sidecar`; a handler only reads what the decision needs
from the cluster and turns the answer into kopf's (an AdmissionError refuses, `warnings` come back to kubectl, the
patch is what the API server stores).

Each handler's id is its URL path (kopf serves `/<id>`), from `admission.names`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, Literal

import kopf
import orjson

from otel_operator.admission import escalation, names
from otel_operator.manifests import defaults, featuregates, labels, sidecar
from otel_operator.manifests.build import collector_params
from otel_operator.manifests.validation import review
from otel_operator.reconcile.handlers import Context
from otel_operator.reconcile.kube import Kube, KubeError
from otel_operator.reconcile.login import api_client

GROUP: Final = "opentelemetry.io"
# 422 Unprocessable Entity: kubectl reports "Error from server (Invalid)", as for a schema violation
INVALID: Final = 422
FORBIDDEN: Final = 403  # "Error from server (Forbidden)", as for RBAC's own refusals

log = logging.getLogger("otel_operator.admission")


def plain(body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A kopf Body (a view) as plain, independent data."""
    return None if body is None else orjson.loads(orjson.dumps(dict(body)))


def _old(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored object of an UPDATE (kopf passes it as `old`), plain; None for a CREATE."""
    return plain(kwargs.get("old")) if kwargs.get("operation") == "UPDATE" else None


def _metadata_only(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """An update that leaves the spec and the allocator link alone: the operator's own finalizer and bookkeeping
    patches, kubectl's annotations. Never refused, so that a resource stored before the webhook existed can still
    be deleted and annotated."""
    if old is None:
        return False
    link = labels.TARGET_ALLOCATOR_LABEL

    def link_of(obj: Mapping[str, Any]) -> Any:
        return ((obj.get("metadata") or {}).get("labels") or {}).get(link)

    return bool(old.get("spec") == new.get("spec") and link_of(old) == link_of(new))


def refusal(errors: Any) -> kopf.AdmissionError:
    """One message naming every bad field; kubectl prints it after "denied the request: "."""
    return kopf.AdmissionError("; ".join(str(e) for e in errors), code=INVALID)


def defaulted_collector(resource: Mapping[str, Any], gates: frozenset[str]) -> dict[str, Any]:
    """The collector as upstream's mutating webhook stores it: `defaults.collector`, plus the network policy switched
    on explicitly while the gate `operand.networkpolicy` is on."""
    out = defaults.collector(resource)
    spec = out["spec"]
    if featuregates.OPERAND_NETWORK_POLICY in gates:
        policy = spec.get("networkPolicy")
        if not isinstance(policy, dict):
            spec["networkPolicy"] = policy = {}
        if policy.get("enabled") is None:
            policy["enabled"] = True
    return out


def _replace_spec_and_labels(wanted: Mapping[str, Any]) -> Any:
    """A kopf patch function: the stored object gets `wanted`'s spec and labels (kopf diffs it into a JSON patch)."""

    def apply(body: MutableMapping[str, Any]) -> None:
        body["spec"] = copy.deepcopy(wanted["spec"])
        body.setdefault("metadata", {})["labels"] = dict((wanted.get("metadata") or {}).get("labels") or {})

    return apply


def register(registry: kopf.OperatorRegistry, ctx: Context, server: Any | None = None) -> kopf.OperatorRegistry:
    """The admission handlers, into `registry`. `server` is kopf's webhook server (a `kopf.WebhookServer`); None
    leaves `settings.admission.server` to the caller."""

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = server
        settings.admission.managed = None  # the chart (or the tests) own the configurations; we patch the caBundle
        settings.posting.enabled = False  # no Events from the admission side: nothing is stored yet
        if ctx.kube is None:
            ctx.kube = Kube(await api_client(ctx.kubeconfig))

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        if ctx.kube is not None:
            await ctx.kube.api.close()
            ctx.kube = None

    async def validate_collector(body: kopf.Body, warnings: list[str], **kwargs: Any) -> str:
        new, before = plain(body) or {}, _old(kwargs)
        if (new.get("metadata") or {}).get("deletionTimestamp") or _metadata_only(before, new):
            return "allowed"
        options = await ctx.build_options()
        verdict = review(new, options, old=before)
        warnings.extend(verdict.warnings)
        if verdict.errors:
            log.info("refused %s: %s", verdict.errors[0].obj, "; ".join(str(e) for e in verdict.errors))
            raise refusal(verdict.errors)
        if ctx.kube is not None:
            await _refuse_escalation(ctx.kube, new, kwargs.get("userinfo"), options.collector_rbac)
        return "allowed"

    async def default_collector(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> str:
        new, before = plain(body) or {}, _old(kwargs)
        # not on the operator's own metadata patches: a resource stored before the webhook existed is defaulted on
        # its next spec change, not under a finalizer patch
        if (new.get("metadata") or {}).get("deletionTimestamp") or _metadata_only(before, new):
            return "allowed"
        try:
            wanted = defaulted_collector(new, ctx.options.feature_gates)
        except Exception:  # a resource the schema refuses: the validating webhook names its fields
            log.debug("not defaulting %s: it does not hold its schema", (new.get("metadata") or {}).get("name"))
            return "allowed"
        if wanted.get("spec") == new.get("spec") and wanted["metadata"].get("labels") == (
            (new.get("metadata") or {}).get("labels")
        ):
            return "allowed"
        patch.fns.append(_replace_spec_and_labels(wanted))
        return "defaulted"

    async def validate_allocator(body: kopf.Body, warnings: list[str], **kwargs: Any) -> str:
        new, before = plain(body) or {}, _old(kwargs)
        meta = new.get("metadata") or {}
        if meta.get("deletionTimestamp") or _metadata_only(before, new):
            return "allowed"
        owned = any(r.get("kind") == "OpenTelemetryCollector" for r in meta.get("ownerReferences") or [])
        # a collector's embedded allocator (the operator's own write): its collector is its owner
        has_collector = (
            True if owned else await _has_collector(ctx, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        )
        verdict = review(new, await ctx.build_options(), old=before, has_collector=has_collector)
        warnings.extend(verdict.warnings)
        if verdict.errors:
            log.info("refused %s: %s", verdict.errors[0].obj, "; ".join(str(e) for e in verdict.errors))
            raise refusal(verdict.errors)
        return "allowed"

    server_version: list[tuple[int, int]] = []  # asked once: it decides native sidecars

    async def inject_sidecar(body: kopf.Body, patch: kopf.Patch, warnings: list[str], **_: Any) -> str:
        """Never refuses: whatever goes wrong (an API error, a collector that cannot be built), the pod is created
        as it is, with a warning; kopf would answer "denied" (code 500) to any exception."""
        pod = plain(body) or {}
        try:
            return await _inject(pod, patch, warnings)
        except Exception as err:
            meta = pod.get("metadata") or {}
            who = f"{meta.get('namespace') or ''}/{meta.get('name') or meta.get('generateName', '') + '*'}"
            log.exception("could not decide the sidecar of pod %s", who)
            warnings.append(f"pod {who} is created without a sidecar: the operator could not decide it ({err})")
            patch.clear()
            return "error"

    async def _inject(pod: dict[str, Any], patch: kopf.Patch, warnings: list[str]) -> str:
        kube = ctx.client()
        ns_name = str((pod.get("metadata") or {}).get("namespace") or "")
        if not ns_name:  # API servers since 1.22 fill it in before admission; an older one: nothing to look up
            warnings.append("a pod without metadata.namespace at admission is created without a sidecar")
            return "not-injected"
        namespace = await kube.get(f"/api/v1/namespaces/{ns_name}") or {"metadata": {"name": ns_name}}
        wanted = sidecar.target(pod, namespace)
        if wanted is None or sidecar.has_sidecar(pod):
            choice = sidecar.choose(pod, namespace, [])
            if choice.opt_out and sidecar.has_sidecar(pod):
                patch.fns.append(_replace_body(sidecar.remove(pod)))
                return "removed"
            return "not-injected"
        collection = f"/apis/{GROUP}/v1beta1/namespaces/{wanted.namespace}/opentelemetrycollectors"
        if wanted.name is None:
            candidates = await kube.list(collection, "")
        else:
            found = await kube.get(f"{collection}/{wanted.name}")
            candidates = [found] if found is not None else []
        choice = sidecar.choose(pod, namespace, candidates)
        if choice.warning:
            warnings.append(choice.warning)
            log.info("no sidecar: %s", choice.warning)
        if choice.collector is None:
            return "not-injected"
        options = await ctx.build_options()
        verdict = review(choice.collector, options)
        if not verdict.allowed:
            text = (
                f"pod {ns_name}/{(pod.get('metadata') or {}).get('name') or '*'} is created without a sidecar: its "
                f"collector cannot be built: {'; '.join(str(e) for e in verdict.errors)}"
            )
            warnings.append(text)
            log.info("no sidecar: %s", text)
            return "not-injected"
        if not server_version:
            server_version.append(await _server_version(kube))
        injected = sidecar.inject(
            pod,
            collector_params(verdict.resource, options),
            namespace=ns_name,
            owners=await _owners(kube, pod, ns_name),
            native=sidecar.native_sidecars(server_version[0]),
        )
        patch.fns.append(_replace_body(injected))
        return "injected"

    def counted(webhook: str, handler: Any) -> Any:
        """`handler` (returning its result's name), timed and counted in the operator's metrics."""

        async def answer(**kwargs: Any) -> None:
            result = "error"
            started = time.perf_counter()
            try:
                result = await handler(**kwargs)
            except kopf.AdmissionError:
                result = "refused"
                raise
            except Exception:  # kopf's own log of it is filtered with the refusals (admission.runner): say it here
                log.exception("the %s webhook failed", webhook)
                raise
            finally:
                ctx.metrics.admissions.labels(webhook, result).inc()
                ctx.metrics.admission_duration.labels(webhook).observe(time.perf_counter() - started)

        return answer

    collectors = (GROUP, "v1beta1", "opentelemetrycollectors")
    writes: list[Literal["CREATE", "UPDATE"]] = ["CREATE", "UPDATE"]
    kopf.on.validate(*collectors, id=names.VALIDATE_COLLECTOR, operations=writes, registry=registry)(
        counted(names.VALIDATE_COLLECTOR, validate_collector)
    )
    kopf.on.mutate(*collectors, id=names.MUTATE_COLLECTOR, operations=writes, registry=registry)(
        counted(names.MUTATE_COLLECTOR, default_collector)
    )
    kopf.on.validate(
        GROUP, "v1alpha1", "targetallocators", id=names.VALIDATE_ALLOCATOR, operations=writes, registry=registry
    )(counted(names.VALIDATE_ALLOCATOR, validate_allocator))
    kopf.on.mutate(
        "",
        "v1",
        "pods",
        id=names.MUTATE_POD,
        operations=["CREATE"],
        ignore_failures=True,  # never a failed pod: without an answer, the pod is created without a sidecar
        registry=registry,
    )(counted(names.MUTATE_POD, inject_sidecar))
    return registry


async def _refuse_escalation(kube: Kube, new: Mapping[str, Any], userinfo: Any, collector_rbac_on: bool) -> None:
    """AdmissionError (403, as for any RBAC refusal) when the collector's automatic RBAC would grant the requesting
    user's way to permissions they do not hold (`escalation`); also when that cannot be asked: never a grant unseen."""
    meta = new.get("metadata") or {}
    obj = f"OpenTelemetryCollector {meta.get('namespace') or 'default'}/{meta.get('name')}"
    try:
        message = await escalation.check(kube, new, userinfo, collector_rbac_on=collector_rbac_on)
    except KubeError as err:
        log.warning("refused %s: could not ask the API server what its user holds: %s", obj, err)
        raise kopf.AdmissionError(
            f"{obj}: the operator could not check that its automatic RBAC grants nothing its user lacks "
            f"({err}); fix: let the operator create subjectaccessreviews (the chart's ClusterRole does)",
            code=FORBIDDEN,
        ) from None
    if message is not None:
        log.info("refused %s: %s", obj, message)
        raise kopf.AdmissionError(f"{obj}: {message}", code=FORBIDDEN)


def _replace_body(wanted: Mapping[str, Any]) -> Any:
    """A kopf patch function: the object becomes `wanted` (kopf diffs it into the JSON patch the API server
    applies)."""

    def apply(body: MutableMapping[str, Any]) -> None:
        body.clear()
        body.update(copy.deepcopy(dict(wanted)))

    return apply


async def _server_version(kube: Kube) -> tuple[int, int]:
    info = await kube.get("/version") or {}
    try:
        return int(str(info.get("major"))), int("".join(ch for ch in str(info.get("minor")) if ch.isdigit()))
    except ValueError:
        return sidecar.NATIVE_SIDECAR_VERSION  # a server that does not say: a current one


async def _owners(kube: Kube, pod: Mapping[str, Any], namespace: str) -> sidecar.Owners:
    """The pod's ReplicaSet and its Deployment (their names go into OTEL_RESOURCE_ATTRIBUTES)."""
    rs_name = sidecar.owner_name(pod, "ReplicaSet")
    if rs_name is None:
        return sidecar.Owners()
    rs = await kube.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets/{rs_name}")
    if rs is None:
        return sidecar.Owners(sidecar.Owner(rs_name))
    rs_meta = rs.get("metadata") or {}
    deployment = sidecar.owner_name(rs, "Deployment")
    dep_uid = next(
        (str(r.get("uid") or "") for r in rs_meta.get("ownerReferences") or [] if r.get("kind") == "Deployment"), ""
    )
    return sidecar.Owners(
        sidecar.Owner(rs_name, str(rs_meta.get("uid") or "")),
        sidecar.Owner(deployment, dep_uid) if deployment else None,
    )


async def _has_collector(ctx: Context, namespace: str, name: str) -> bool | None:
    """Whether a collector in `namespace` is labelled to use the TargetAllocator `name` (None: could not tell)."""
    if not namespace or not name:
        return None
    try:
        found = await ctx.client().list(
            f"/apis/{GROUP}/v1beta1/namespaces/{namespace}/opentelemetrycollectors",
            f"{labels.TARGET_ALLOCATOR_LABEL}={name}",
        )
    except Exception as err:  # a review without this warning beats a refused request
        log.warning("could not list the collectors of TargetAllocator %s/%s: %s", namespace, name, err)
        return None
    return bool(found)


def register_namespace_label(registry: kopf.OperatorRegistry, ctx: Context) -> kopf.OperatorRegistry:
    """Mirror each namespace's sidecar annotation into `names.NAMESPACE_INJECT_LABEL`: a webhook configuration can
    select namespaces by label only, and this label is what sends the pods of an annotated namespace to the pod
    webhook. Every replica does it (the same merge patch: harmless), so it works while the leader is elsewhere."""

    @kopf.on.event("", "v1", "namespaces", id="sidecar-namespace-label", registry=registry)
    async def mirror(body: kopf.Body, **_: Any) -> None:
        meta = body.get("metadata") or {}
        wanted = "true" if wants_sidecars(meta.get("annotations") or {}) else None
        if (meta.get("labels") or {}).get(names.NAMESPACE_INJECT_LABEL) == wanted or meta.get("deletionTimestamp"):
            return
        try:
            await ctx.client().request(
                "PATCH",
                f"/api/v1/namespaces/{meta.get('name')}",
                body={"metadata": {"labels": {names.NAMESPACE_INJECT_LABEL: wanted}}},
                content_type="application/merge-patch+json",
            )
        except Exception as err:  # the next event retries; pods annotated themselves are still injected
            log.warning("could not label namespace %s for sidecar injection: %s", meta.get("name"), err)

    return registry


def wants_sidecars(annotations: Mapping[str, str]) -> bool:
    """A namespace annotated for sidecars: set, and not "false"."""
    value = str(annotations.get(names.INJECT_ANNOTATION, "")).strip().lower()
    return value not in ("", "false")
