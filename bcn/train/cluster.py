"""TF_CONFIG, read and checked before TensorFlow sees it, and the wait for the other workers of a cluster.

Creating a MultiWorkerMirroredStrategy blocks, with no timeout and deaf to Ctrl-C and
SIGTERM, until every worker has started. So before it is created, each worker listens on
its own port (a port in use is found here) and connects to every other chief and worker
until all answer, or until `timeout` seconds have passed; Ctrl-C and SIGTERM end the wait.
"""

import errno
import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from bcn.errors import BcnError
from bcn.io import os_reason

log = logging.getLogger(__name__)

TRAINING_TASKS = ("chief", "worker")  # the task types a MultiWorkerMirroredStrategy trains as
RETRY_S = 0.2  # between two rounds of connections to the workers that have not answered


@dataclass(frozen=True)
class TfConfig:
    """A checked TF_CONFIG: the cluster (job -> "host:port" addresses) and this process's task in it."""

    cluster: dict[str, list[str]]
    task_type: str
    task_index: int

    def tasks(self) -> dict[str, str]:
        """{"worker 1": "host:port", ...}: every chief and worker task, chief first."""
        return {
            f"{job} {index}": address
            for job in TRAINING_TASKS
            for index, address in enumerate(self.cluster.get(job, ()))
        }

    @property
    def name(self) -> str:
        """This task, as tasks() names it."""
        return f"{self.task_type} {self.task_index}"

    @property
    def writes(self) -> bool:
        """Whether this task writes the run folder: the chief, or worker 0 of a cluster without one."""
        return self.name == next(iter(self.tasks()))


class WaitInterrupted(BcnError):
    """Ctrl-C or SIGTERM while waiting for the other workers."""

    exit_code = 130


def read_tf_config() -> TfConfig | None:
    """The checked TF_CONFIG, or None when it is unset or empty; a malformed one is a one-line BcnError."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BcnError(f"TF_CONFIG: not valid JSON ({error})") from None
    cluster, task = _parts(document)
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in TRAINING_TASKS:
        raise BcnError(f"TF_CONFIG: task type {task_type!r} is not one bcn trains as ({' or '.join(TRAINING_TASKS)})")
    if task_type not in cluster:
        raise BcnError(f"TF_CONFIG: the cluster has no {task_type} (it has: {', '.join(cluster)})")
    if isinstance(task_index, bool) or not isinstance(task_index, int):
        raise BcnError(f"TF_CONFIG: task index {task_index!r} is not a whole number")
    if not 0 <= task_index < len(cluster[task_type]):
        raise BcnError(
            f"TF_CONFIG: task index {task_index} is out of range: the cluster has {len(cluster[task_type])} "
            f"{task_type} task(s), index 0 to {len(cluster[task_type]) - 1}"
        )
    config = TfConfig(cluster, task_type, task_index)
    for name, address in config.tasks().items():
        _host_port(name, address)
    return config


def _parts(document) -> tuple[dict, dict]:
    """(cluster, task) of a parsed TF_CONFIG, each of the right shape."""
    if not isinstance(document, dict):
        raise BcnError("TF_CONFIG: must be a JSON object with 'cluster' and 'task'")
    cluster, task = document.get("cluster"), document.get("task")
    if not (isinstance(cluster, dict) and cluster and all(map(_is_address_list, cluster.values()))):
        raise BcnError("TF_CONFIG: 'cluster' must map each job (chief, worker) to a list of \"host:port\" addresses")
    if not isinstance(task, dict):
        raise BcnError("TF_CONFIG: 'task' must be an object with 'type' and 'index'")
    return cluster, task


def _is_address_list(value) -> bool:
    """Whether a job's entry in the cluster is a list of strings."""
    return isinstance(value, list) and all(isinstance(address, str) for address in value)


def _host_port(name: str, address: str) -> tuple[str, int]:
    """(host, port) of a task's "host:port" address; anything else is a one-line BcnError naming the task."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BcnError(f"TF_CONFIG: the address of {name}, {address!r}, is not host:port")
    return host.strip("[]"), int(port)


def wait_for_workers(config: TfConfig, timeout: float) -> None:
    """Return once every other chief and worker answers on its port; refuse a port of this task already in use.

    After `timeout` seconds the workers that did not answer are named in a one-line BcnError;
    Ctrl-C or SIGTERM (which bcn turns into KeyboardInterrupt) ends the wait with WaitInterrupted.
    """
    listener = _listen(config)
    waiting = {name: address for name, address in config.tasks().items() if name != config.name}
    try:
        deadline = time.monotonic() + timeout
        waiting = _unanswered(waiting)
        if waiting:
            log.info(f"waiting for workers: {_listed(waiting)} (up to {timeout:g} s)")
        while waiting:
            if time.monotonic() >= deadline:
                raise BcnError(
                    f"TF_CONFIG: {_listed(waiting)} did not answer within {timeout:g} s; start every worker, "
                    "or wait longer with --worker-timeout"
                )
            time.sleep(RETRY_S)
            waiting = _unanswered(waiting)
    except KeyboardInterrupt:
        raise WaitInterrupted(f"TF_CONFIG: stopped while waiting for workers: {_listed(waiting)}") from None
    finally:
        listener.close()


def _listen(config: TfConfig) -> socket.socket:
    """A socket listening on this task's port, so other workers' waits see it started."""
    _, port = _host_port(config.name, config.tasks()[config.name])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
        listener.listen(16)
    except OSError as error:
        listener.close()
        where = f"TF_CONFIG: port {port} of this task ({config.name})"
        if error.errno == errno.EADDRINUSE:
            raise BcnError(f"{where} is in use by another program") from None
        raise BcnError(f"{where} cannot be listened on ({os_reason(error)})") from None
    return listener


def _unanswered(tasks: dict[str, str]) -> dict[str, str]:
    """The tasks whose address refuses a connection or does not answer within a second."""
    return {name: address for name, address in tasks.items() if not _answers(name, address)}


def _answers(name: str, address: str) -> bool:
    """Whether something listens at the task's address."""
    try:
        with socket.create_connection(_host_port(name, address), timeout=1.0):
            return True
    except OSError:
        return False


def _listed(tasks: dict[str, str]) -> str:
    """ "worker 1 (10.0.0.2:2222), worker 2 (...)"."""
    return ", ".join(f"{name} ({address})" for name, address in tasks.items())
