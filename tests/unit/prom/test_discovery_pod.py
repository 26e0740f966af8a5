"""Role pod and the rules every role shares: label-name sanitising, metadata expansion, addresses, pod labels."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.prom.discovery.common import (
    AttachMetadata,
    Role,
    add_metadata_labels,
    join_host_port,
    namespace_metadata_labels,
    node_metadata_labels,
)
from otel_operator.prom.discovery.pod import build_pod, pod_info, with_workload_labels
from otel_operator.prom.labels import sanitize_label_name
from otel_operator.prom.model import Labels, TargetGroup

M = "__meta_kubernetes_"


def make_pod(
    *,
    name: str = "web-0",
    namespace: str = "shop",
    ip: str | None = "10.1.2.3",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": "node-1"}
    spec["containers"] = (
        containers
        if containers is not None
        else [{"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]
    )
    if init is not None:
        spec["initContainers"] = init
    st: dict[str, Any] = {
        "phase": "Running",
        "hostIP": "192.168.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    if ip is not None:
        st["podIP"] = ip
    st.update(status or {})
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", **meta},
        "spec": spec,
        "status": st,
    }


def group_of(obj: dict[str, Any], **kwargs: Any) -> TargetGroup:
    return build_pod(pod_info(obj), **kwargs)


# --------------------------------------------------------------------------- shared rules


@pytest.mark.parametrize(
    ("name", "sanitized"),
    [
        pytest.param("app.kubernetes.io/name", "app_kubernetes_io_name", id="dots-and-slash"),
        pytest.param("a-b c", "a_b_c", id="dash-and-space"),
        pytest.param("already_valid_09", "already_valid_09", id="valid-unchanged"),
        pytest.param("1st", "1st", id="leading-digit-kept"),
        pytest.param("café", "caf_", id="one-underscore-per-character-not-per-byte"),
        pytest.param("日本", "__", id="each-non-ascii-character"),
        pytest.param("a🙂b", "a_b", id="astral-character-is-one-rune"),
        pytest.param("", "", id="empty"),
    ],
)
def test_sanitize_label_name(name: str, sanitized: str) -> None:
    assert sanitize_label_name(name) == sanitized


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [
        pytest.param("10.0.0.1", 80, "10.0.0.1:80", id="ipv4"),
        pytest.param("fd00::1", 80, "[fd00::1]:80", id="ipv6-bracketed"),
        pytest.param("svc.ns.svc", "443", "svc.ns.svc:443", id="hostname"),
    ],
)
def test_join_host_port_brackets_ipv6(host: str, port: int | str, address: str) -> None:
    assert join_host_port(host, port) == address


def test_metadata_labels_expand_labels_and_annotations_with_present_markers() -> None:
    out: Labels = {}
    add_metadata_labels(
        out, Role.SERVICE, {"name": "s", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {"a/b": ""}}
    )
    assert out == {
        M + "service_name": "s",
        M + "service_label_app_kubernetes_io_name": "x",
        M + "service_labelpresent_app_kubernetes_io_name": "true",
        M + "service_annotation_a_b": "",  # an empty value is still a value; only the scrape layer drops it
        M + "service_annotationpresent_a_b": "true",
    }


def test_metadata_labels_colliding_after_sanitising_keep_one_value() -> None:
    # Go's map order picks the winner at random; ours is the later key. Either way exactly one value survives.
    out: Labels = {}
    add_metadata_labels(out, Role.POD, {"name": "p", "labels": {"a.b": "1", "a/b": "2"}})
    assert out[M + "pod_label_a_b"] in {"1", "2"}
    assert [k for k in out if k.startswith(M + "pod_label_")] == [M + "pod_label_a_b"]


def test_node_metadata_has_name_namespace_metadata_does_not() -> None:
    meta = {"metadata": {"name": "n1", "labels": {"zone": "a"}, "annotations": {"note": "x"}}}
    assert node_metadata_labels(meta) == {
        M + "node_name": "n1",
        M + "node_label_zone": "a",
        M + "node_labelpresent_zone": "true",
        M + "node_annotation_note": "x",
        M + "node_annotationpresent_note": "true",
    }
    assert namespace_metadata_labels(meta) == {
        M + "namespace_label_zone": "a",
        M + "namespace_labelpresent_zone": "true",
        M + "namespace_annotation_note": "x",
        M + "namespace_annotationpresent_note": "true",
    }


# --------------------------------------------------------------------------- pod labels


def test_pod_labels_carry_ip_phase_node_host_uid_and_metadata() -> None:
    obj = make_pod(labels={"app": "web"}, annotations={"prometheus.io/port": "8080"})
    assert pod_info(obj).labels == {
        M + "pod_ip": "10.1.2.3",
        M + "pod_ready": "true",
        M + "pod_phase": "Running",
        M + "pod_node_name": "node-1",
        M + "pod_host_ip": "192.168.0.1",
        M + "pod_uid": "uid-web-0",
        M + "pod_name": "web-0",
        M + "pod_label_app": "web",
        M + "pod_labelpresent_app": "true",
        M + "pod_annotation_prometheus_io_port": "8080",
        M + "pod_annotationpresent_prometheus_io_port": "true",
    }


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        pytest.param([{"type": "Ready", "status": "True"}], "true", id="ready"),
        pytest.param([{"type": "Ready", "status": "False"}], "false", id="not-ready"),
        pytest.param([{"type": "Ready", "status": "Unknown"}], "unknown", id="unknown-lower-cased"),
        pytest.param([{"type": "Initialized", "status": "True"}], "unknown", id="no-ready-condition"),
        pytest.param([], "unknown", id="no-conditions"),
    ],
)
def test_pod_ready_is_the_lower_cased_ready_condition(conditions: list[dict[str, str]], ready: str) -> None:
    assert pod_info(make_pod(status={"conditions": conditions})).labels[M + "pod_ready"] == ready


def test_pod_phase_and_host_ip_are_empty_when_unset() -> None:
    obj = make_pod()
    del obj["status"]["phase"], obj["status"]["hostIP"]
    labels = pod_info(obj).labels
    assert labels[M + "pod_phase"] == ""
    assert labels[M + "pod_host_ip"] == ""


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        pytest.param(
            [{"kind": "ReplicaSet", "name": "web-abc", "controller": True}],
            {"pod_controller_kind": "ReplicaSet", "pod_controller_name": "web-abc"},
            id="controller",
        ),
        pytest.param([{"kind": "ConfigMap", "name": "cm"}], {}, id="owner-that-is-not-a-controller"),
        pytest.param(
            [{"kind": "A", "name": "a", "controller": False}, {"kind": "B", "name": "b", "controller": True}],
            {"pod_controller_kind": "B", "pod_controller_name": "b"},
            id="first-controller-wins",
        ),
        pytest.param(
            [{"kind": "", "name": "x", "controller": True}], {"pod_controller_name": "x"}, id="empty-kind-omitted"
        ),
    ],
)
def test_pod_controller_labels(owners: list[dict[str, Any]], expected: dict[str, str]) -> None:
    labels = pod_info(make_pod(ownerReferences=owners)).labels
    assert {k[len(M) :]: v for k, v in labels.items() if "controller" in k} == expected


# --------------------------------------------------------------------------- role pod


def test_pod_without_ip_yields_an_empty_group() -> None:
    assert group_of(make_pod(ip=None)) == TargetGroup("pod/shop/web-0")


def test_pod_group_labels_are_pod_labels_plus_namespace() -> None:
    group = group_of(make_pod())
    assert group.source == "pod/shop/web-0"
    assert group.labels == {**pod_info(make_pod()).labels, M + "namespace": "shop"}


def test_one_target_per_container_port_and_one_per_portless_container() -> None:
    containers: list[dict[str, Any]] = [
        {
            "name": "app",
            "image": "app:1",
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"containerPort": 9090, "protocol": "UDP"},
            ],
        },
        {"name": "logger", "image": "log:2"},
    ]
    statuses = {"containerStatuses": [{"name": "app", "containerID": "containerd://abc"}]}
    group = group_of(make_pod(containers=containers, status=statuses))
    assert list(group.targets) == [
        {
            "__address__": "10.1.2.3:8080",
            M + "pod_container_name": "app",
            M + "pod_container_id": "containerd://abc",
            M + "pod_container_image": "app:1",
            M + "pod_container_port_number": "8080",
            M + "pod_container_port_name": "http",
            M + "pod_container_port_protocol": "TCP",
            M + "pod_container_init": "false",
        },
        {
            "__address__": "10.1.2.3:9090",
            M + "pod_container_name": "app",
            M + "pod_container_id": "containerd://abc",
            M + "pod_container_image": "app:1",
            M + "pod_container_port_number": "9090",
            M + "pod_container_port_name": "",
            M + "pod_container_port_protocol": "UDP",
            M + "pod_container_init": "false",
        },
        {  # no port: the bare IP, no port labels, and no container ID reported yet
            "__address__": "10.1.2.3",
            M + "pod_container_name": "logger",
            M + "pod_container_id": "",
            M + "pod_container_image": "log:2",
            M + "pod_container_init": "false",
        },
    ]


def test_ipv6_pod_brackets_addresses_with_a_port_only() -> None:
    containers: list[dict[str, Any]] = [
        {"name": "app", "image": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
        {"name": "bare", "image": "b"},
    ]
    group = group_of(make_pod(ip="fd00::7", containers=containers))
    assert [t["__address__"] for t in group.targets] == ["[fd00::7]:80", "fd00::7"]


def test_init_containers_come_after_containers_with_their_own_statuses() -> None:
    init = [{"name": "setup", "image": "setup:1", "ports": [{"containerPort": 7000, "protocol": "TCP"}]}]
    status = {
        "containerStatuses": [{"name": "setup", "containerID": "wrong://not-an-init-status"}],
        "initContainerStatuses": [{"name": "setup", "containerID": "containerd://init"}],
    }
    targets = group_of(make_pod(init=init, status=status)).targets
    assert [(t[M + "pod_container_name"], t[M + "pod_container_init"]) for t in targets] == [
        ("app", "false"),
        ("setup", "true"),
    ]
    assert targets[1][M + "pod_container_id"] == "containerd://init"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Pending"])
def test_no_phase_filtering_a_finished_pod_with_an_ip_still_has_targets(phase: str) -> None:
    group = group_of(make_pod(status={"phase": phase}))
    assert group.labels[M + "pod_phase"] == phase
    assert len(group.targets) == 1


def test_attach_node_adds_the_nodes_labels_and_skips_pods_on_unknown_nodes() -> None:
    node = node_metadata_labels({"metadata": {"name": "node-1", "labels": {"zone": "a"}}})
    group = group_of(make_pod(), nodes={"node-1": node})
    assert group.labels[M + "node_name"] == "node-1"
    assert group.labels[M + "node_label_zone"] == "a"
    # the pod's node is not (yet) in the node store: Prometheus v3 treats it as filtered out
    assert group_of(make_pod(), nodes={}) == TargetGroup("pod/shop/web-0")
    # without attach_metadata.node, nodes are not consulted at all
    assert M + "node_name" not in group_of(make_pod()).labels


def test_attach_namespace_adds_the_namespaces_labels() -> None:
    ns = namespace_metadata_labels({"metadata": {"name": "shop", "labels": {"team": "a"}}})
    group = group_of(make_pod(), namespace_labels=ns)
    assert group.labels[M + "namespace_label_team"] == "a"
    assert group.labels[M + "namespace"] == "shop"


# --------------------------------------------------------------------------- workload metadata (v3.11+)

ALL_WORKLOADS = AttachMetadata(deployment=True, job=True, cronjob=True)


@pytest.mark.parametrize(
    ("controller", "replicasets", "jobs", "attach", "expected"),
    [
        pytest.param(
            ("ReplicaSet", "web-abc"),
            {("shop", "web-abc"): ("Deployment", "web")},
            {},
            ALL_WORKLOADS,
            {"pod_deployment_name": "web"},
            id="deployment-through-its-replicaset",
        ),
        pytest.param(("ReplicaSet", "web-abc"), {}, {}, ALL_WORKLOADS, {}, id="replicaset-not-known-yet-no-deployment"),
        pytest.param(
            ("ReplicaSet", "web-abc"),
            {("shop", "web-abc"): None},
            {},
            ALL_WORKLOADS,
            {},
            id="bare-replicaset-no-deployment",
        ),
        pytest.param(
            ("ReplicaSet", "web-abc"),
            {("other", "web-abc"): ("Deployment", "web")},
            {},
            ALL_WORKLOADS,
            {},
            id="replicaset-looked-up-in-the-pods-namespace",
        ),
        pytest.param(
            ("Job", "nightly-123"),
            {},
            {("shop", "nightly-123"): ("CronJob", "nightly")},
            ALL_WORKLOADS,
            {"pod_job_name": "nightly-123", "pod_cronjob_name": "nightly"},
            id="job-and-its-cronjob",
        ),
        pytest.param(("Job", "once"), {}, {}, ALL_WORKLOADS, {"pod_job_name": "once"}, id="job-name-needs-no-lookup"),
        pytest.param(
            ("Job", "nightly-123"),
            {},
            {("shop", "nightly-123"): ("CronJob", "nightly")},
            AttachMetadata(cronjob=True),
            {"pod_cronjob_name": "nightly"},
            id="cronjob-without-job",
        ),
        pytest.param(
            ("ReplicaSet", "web-abc"),
            {("shop", "web-abc"): ("Deployment", "web")},
            {},
            AttachMetadata(job=True),
            {},
            id="deployment-not-asked-for",
        ),
        pytest.param(("StatefulSet", "db"), {}, {}, ALL_WORKLOADS, {}, id="other-controllers-add-nothing"),
    ],
)
def test_workload_labels(
    controller: tuple[str, str],
    replicasets: dict[tuple[str, str], tuple[str, str] | None],
    jobs: dict[tuple[str, str], tuple[str, str] | None],
    attach: AttachMetadata,
    expected: dict[str, str],
) -> None:
    owner = {"kind": controller[0], "name": controller[1], "controller": True}
    info = with_workload_labels(pod_info(make_pod(ownerReferences=[owner])), attach, replicasets, jobs)
    names = ("pod_deployment_name", "pod_job_name", "pod_cronjob_name")
    assert {k[len(M) :]: v for k, v in info.labels.items() if k[len(M) :] in names} == expected
