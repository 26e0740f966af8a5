"""Volumes for upstream's chainsaw tests on the real node (hack/chainsaw.py --real-node), as kind's local-path
provisioner gives them on upstream's CI: a default StorageClass `standard`, and for every Pending claim of it a
hostPath PersistentVolume bound to that claim (a folder under the run's work folder, writable by any pod user);
released volumes are deleted with their folders. A thread of the runner polling with kubectl: standard library only,
like chainsaw.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

STORAGE_CLASS = "standard"  # kind's name for it, which tests may give
PROVISIONER = "otel-operator.e2e/hostpath"
MANAGED = "otel-operator.e2e/hostpath-volume"  # label on the volumes made here
POLL = 2.0

Kubectl = Callable[..., subprocess.CompletedProcess[str]]  # Env.kc: (*args, stdin=, check=)


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_for(claim: dict[str, Any], root: Path) -> dict[str, Any] | None:
    """The PersistentVolume for a Pending claim of our class (None: not ours, or not pending, or already given)."""
    spec, meta = claim.get("spec") or {}, claim["metadata"]
    if (claim.get("status") or {}).get("phase") != "Pending" or spec.get("volumeName"):
        return None
    if spec.get("storageClassName") != STORAGE_CLASS:
        return None
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "labels": {MANAGED: "true"},
                     "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "storageClassName": STORAGE_CLASS,
            # Retain: there is no deleter plugin for hostPath; this loop deletes released volumes itself
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(root / f"pvc-{meta['uid']}"), "type": "Directory"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
        },
    }  # fmt: skip


class HostPathProvisioner:
    def __init__(self, kc: Kubectl, root: Path) -> None:
        self.kc, self.root = kc, root
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="e2e-provisioner", daemon=True)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.kc("apply", "-f", "-", stdin=json.dumps(storage_class()))
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _loop(self) -> None:
        while not self.stopping.wait(POLL):
            try:
                self.once()
            except (subprocess.SubprocessError, json.JSONDecodeError, KeyError, OSError):
                continue  # the API server restarting, a claim deleted meanwhile: the next look sees

    def once(self) -> None:
        claims = json.loads(self.kc("get", "pvc", "-A", "-o", "json").stdout)["items"]
        for claim in claims:
            volume = volume_for(claim, self.root)
            if volume is None:
                continue
            folder = Path(volume["spec"]["hostPath"]["path"])
            folder.mkdir(exist_ok=True)
            folder.chmod(0o777)  # pods run as any user (runAsUser, fsGroup): hostPath gets no ownership change
            self.kc("create", "-f", "-", stdin=json.dumps(volume), check=False)  # exists already: fine
        ours = json.loads(self.kc("get", "pv", "-l", f"{MANAGED}=true", "-o", "json").stdout)["items"]
        for volume in ours:
            if (volume.get("status") or {}).get("phase") in ("Released", "Failed"):
                self.kc("delete", "pv", volume["metadata"]["name"], "--wait=false", check=False)
                shutil.rmtree(volume["spec"]["hostPath"]["path"], ignore_errors=True)
