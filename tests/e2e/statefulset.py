"""The worker StatefulSet of ``deploy/k8s/worker.yaml``, run as processes on this machine.

:class:`LocalStatefulSet` runs for each pod what the kubelet would, read from the manifest
itself (never a copy of it): the ``recovery-init`` init container's command
(``deploy/bin/mlbsts-recovery-init``) to completion, then the ``worker`` container's
command, which takes the process id from the pod name's ordinal and builds the address
list from ``WORKER_PROCESSES``. The containers get the manifest's ``env``, with each
``fieldRef`` filled as the kubelet fills it (``POD_NAME`` is ``mlbsts-worker-N``), except:

- ``envFrom`` (the ConfigMap and Secret) is replaced by the local stack's settings;
- each volume is a directory, and an ``env`` value under a ``mountPath`` points into it:
  a volumeClaimTemplate's claim (``recovery-mlbsts-worker-N``) is kept across pods, as
  Kubernetes keeps a PersistentVolumeClaim; an ``emptyDir`` is new for each pod;
- the root filesystem is read-only (``readOnlyRootFilesystem``): each pod's working
  directory is an empty directory that must stay empty (:meth:`LocalStatefulSet.rootfs_writes`);
- ``WORKER_PEER_FORMAT`` gives pod N the address 127.0.N.1 (on Linux all of 127/8 is
  loopback), every pod on the same cluster port as on Kubernetes, in place of the
  headless Service's DNS names; an ``env`` value naming a ``containerPort`` (the
  Dataflow API's, the health server's) becomes a free port of this machine;
- what an operator sets: ``WORKER_PROCESSES`` (= replicas), ``RECOVERY_INIT_PROCESSES``
  (the replicas of the first start); ``SNAPSHOT_INTERVAL_SECS`` is short, so that a stop
  part way through the input leaves snapshots to resume from.

The image's ``PATH`` is reproduced: ``mlbsts-recovery-init`` (``/usr/local/bin`` in the
image) and this venv's ``python`` (the code is installed in it, editable) come first.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlbsts.paths import PROJECT_ROOT

WORKER_MANIFEST = PROJECT_ROOT / "deploy" / "k8s" / "worker.yaml"
RECOVERY_INIT = PROJECT_ROOT / "deploy" / "bin" / "mlbsts-recovery-init"
PART_FILE = re.compile(r"^part-(\d+)\.sqlite3")  # with its -wal and -shm companions
_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def load_statefulset() -> dict[str, Any]:
    """The worker StatefulSet as the manifest declares it."""
    docs = [d for d in yaml.safe_load_all(WORKER_MANIFEST.read_text()) if d]
    sets = [d for d in docs if d.get("kind") == "StatefulSet"]
    assert len(sets) == 1, f"{WORKER_MANIFEST}: expected one StatefulSet"
    return sets[0]


def container_env(container: Mapping[str, Any], pod: str, namespace: str) -> dict[str, str]:
    """A container's ``env`` as the kubelet resolves it (``$(VAR)`` of earlier entries)."""
    fields = {"metadata.name": pod, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            value = str(item["value"])
            env[item["name"]] = _K8S_VAR.sub(lambda m: env.get(m[1], m[0]), value)
        else:
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def partitions_in(volume: Path) -> list[int]:
    """The recovery partitions a pod's volume holds."""
    found = {PART_FILE.match(p.name) for p in volume.iterdir()} if volume.is_dir() else set()
    return sorted({int(m[1]) for m in found if m})


def _cluster_port(max_pods: int) -> int:
    """A port free on 127.0.N.1 for every N < max_pods."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            for n in range(max_pods):
                with socket.socket() as s:
                    s.bind((f"127.0.{n}.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every pod address")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # a pod's servers may listen on every address
        return int(s.getsockname()[1])


class LocalStatefulSet:
    """The worker pods of one cluster; volumes and logs are directories under ``root``."""

    def __init__(
        self,
        root: Path,
        settings_env: Mapping[str, str],
        init_processes: int,
        *,
        snapshot_interval_s: int = 1,
        workers_per_process: int | None = None,
        max_pods: int = 8,
    ) -> None:
        sts = load_statefulset()
        self.name = str(sts["metadata"]["name"])
        self.namespace = str(sts["metadata"]["namespace"])
        spec = sts["spec"]["template"]["spec"]
        self.init = next(c for c in spec["initContainers"] if c["name"] == "recovery-init")
        self.worker = next(c for c in spec["containers"] if c["name"] == "worker")
        self.grace_s = float(spec.get("terminationGracePeriodSeconds", 30))
        self.claims = {str(t["metadata"]["name"]) for t in sts["spec"]["volumeClaimTemplates"]}
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        bin_dir = root / "image-bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / RECOVERY_INIT.name).symlink_to(RECOVERY_INIT)
        self._base_env = {
            **settings_env,
            "PATH": os.pathsep.join(
                [str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
            ),
        }
        manifest_env = container_env(self.worker, f"{self.name}-0", self.namespace)
        self.workers_per_process = workers_per_process or int(manifest_env["WORKERS_PER_PROCESS"])
        self._fixed = {  # what the operator sets, and the test's snapshot interval
            "RECOVERY_INIT_PROCESSES": str(init_processes),
            "SNAPSHOT_INTERVAL_SECS": str(snapshot_interval_s),
            "WORKERS_PER_PROCESS": str(self.workers_per_process),
        }
        self._peer_format = f"127.0.%d.1:{_cluster_port(max_pods)}"
        self.pods: list[subprocess.Popen[bytes]] = []
        self.starts = 0

    def volume(self, ordinal: int, claim: str = "recovery") -> Path:
        """A claim's directory; named as Kubernetes names the PersistentVolumeClaim."""
        return self.root / f"{claim}-{self.name}-{ordinal}"

    def log(self, ordinal: int) -> Path:
        return self.logs / f"{self.name}-{ordinal}.log"

    def _pod_dir(self, ordinal: int) -> Path:
        """This start's pod: its emptyDir volumes and its (read-only) working directory."""
        return self.root / "pods" / f"start-{self.starts}" / f"{self.name}-{ordinal}"

    def _local(self, container: Mapping[str, Any], ordinal: int) -> dict[str, Path]:
        """The container's mount paths and the directories standing for them."""
        mounts = {}
        for m in container.get("volumeMounts", []):
            name = str(m["name"])
            local = (
                self.volume(ordinal, name)
                if name in self.claims
                else self._pod_dir(ordinal) / "volumes" / name
            )
            local.mkdir(parents=True, exist_ok=True)
            mounts[str(m["mountPath"]).rstrip("/")] = local
        return mounts

    def _env(self, container: Mapping[str, Any], ordinal: int, replicas: int) -> dict[str, str]:
        env = container_env(container, f"{self.name}-{ordinal}", self.namespace)
        mounts = self._local(container, ordinal)
        ports = {str(p["containerPort"]) for p in container.get("ports", [])}
        for key, value in env.items():
            for mount, local in mounts.items():
                if value == mount or value.startswith(mount + "/"):
                    env[key] = str(local) + value[len(mount) :]
            if value in ports:  # the pod's own network namespace: a free port here
                env[key] = str(_free_port())
        env.update({k: v for k, v in self._fixed.items() if k in env})
        if "WORKER_PROCESSES" in env:  # the worker container
            env["WORKER_PROCESSES"] = str(replicas)
            env["WORKER_PEER_FORMAT"] = self._peer_format
        return {**self._base_env, **env}

    def _run(
        self, container: Mapping[str, Any], ordinal: int, replicas: int
    ) -> subprocess.Popen[bytes]:
        """Start a container of pod ``ordinal``: the manifest's own command and args."""
        argv = [str(a) for a in [*container.get("command", []), *container.get("args", [])]]
        workdir = self._pod_dir(ordinal) / "rootfs"
        workdir.mkdir(parents=True, exist_ok=True)
        with self.log(ordinal).open("ab") as out:
            out.write(
                f"--- start {self.starts}: {container['name']} ({replicas} replicas)\n".encode()
            )
            out.flush()
            return subprocess.Popen(
                argv,
                cwd=workdir,
                env=self._env(container, ordinal, replicas),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def start(self, replicas: int) -> None:
        """Create the pods 0..replicas-1 together (``podManagementPolicy: Parallel``): each
        runs its init container to completion, then its worker."""
        assert not self.pods, "pods still running: delete them first"
        self.starts += 1
        for ordinal in range(replicas):
            init = self._run(self.init, ordinal, replicas)
            assert init.wait(120) == 0, f"recovery-init of pod {ordinal} failed: {self.tail()}"
        self.pods = [self._run(self.worker, ordinal, replicas) for ordinal in range(replicas)]

    def rootfs_writes(self) -> list[Path]:
        """Files the pods wrote in their working directory (the read-only root filesystem)."""
        return sorted(p for p in (self.root / "pods").glob("*/*/rootfs/**/*") if p.is_file())

    def running(self) -> bool:
        return bool(self.pods) and all(p.poll() is None for p in self.pods)

    def delete_pods(self, *, force: bool = False) -> list[int]:
        """Delete every pod as Kubernetes does: SIGTERM, then SIGKILL once the
        termination grace period is over (``force``: SIGKILL at once, as
        ``kubectl delete pod --grace-period=0 --force`` or a lost node). Exit codes."""
        for p in self.pods:
            p.send_signal(signal.SIGKILL if force else signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for p in self.pods:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        codes = [int(p.returncode) for p in self.pods]
        self.pods = []
        return codes

    def wait(self, timeout_s: float) -> list[int]:
        """Wait for every pod to exit by itself; kill them all past ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        try:
            for p in self.pods:
                p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return self.delete_pods(force=True)
        codes = [int(p.returncode) for p in self.pods]
        self.pods = []
        return codes

    def move_partitions(self, replicas: int, old_replicas: int) -> dict[int, list[int]]:
        """Scale-down step of deploy/README.md: move every partition file of the pods that
        go away (ordinals >= ``replicas``) onto the pods that stay, round robin; their
        volumes stay (with their ``.initialized`` marker). What moved where."""
        moved: dict[int, list[int]] = {}
        for ordinal in range(replicas, old_replicas):
            for part in partitions_in(self.volume(ordinal)):
                dest = part % replicas
                for f in self.volume(ordinal).glob(f"part-{part}.sqlite3*"):
                    f.rename(self.volume(dest) / f.name)
                moved.setdefault(dest, []).append(part)
        return moved

    def tail(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.logs.glob("*.log")):
            out.append(f"== {log.name}")
            out.extend(log.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)
