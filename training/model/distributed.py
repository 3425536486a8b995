"""Training across hosts: the cluster from resourceconfig.json, TF_CONFIG, host resolution,
sharding, and the failure message that names the host.

With one host nothing here changes training (no strategy, same numerics). With several, every
host runs the same job under tf.distribute.MultiWorkerMirroredStrategy; the first host (worker
0, the chief) alone writes /opt/ml/model, the archive, the checkpoints and the metric lines.
Everything but strategy() is pure or takes its side effects as arguments, so unit tests need
neither TensorFlow nor a network.
"""

import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from training.contract.jobio import JobError, fail

# The port SageMaker's TensorFlow containers put in TF_CONFIG for MultiWorkerMirroredStrategy.
PORT = 8890
# SageMaker's docs: a host's name may resolve only some seconds after its container starts.
RESOLVE_SECONDS = 120
# A collective op waiting longer than this means a peer is gone (a killed container never
# answers); the op then fails instead of hanging the surviving hosts forever. The variable of
# the same name sets it (a slow network wants more; the contract tests of a lost host, less).
COLLECTIVE_TIMEOUT_SECONDS = 60
COLLECTIVE_TIMEOUT_VARIABLE = "COLLECTIVE_TIMEOUT_SECONDS"
# Every host started and its name resolved (RESOLVE_SECONDS); TensorFlow alone would keep the
# others waiting for a host that never starts for an hour.
JOIN_SECONDS = 180
# How long a worker that has finished waits for the chief to write the model and exit.
CHIEF_SECONDS = 900
TASK = re.compile(r"/job:worker/replica:\d+/task:(\d+)")


@dataclass(frozen=True)
class Cluster:
    hosts: tuple
    current: str

    @property
    def index(self) -> int:
        return self.hosts.index(self.current)

    @property
    def multi(self) -> bool:
        return len(self.hosts) > 1

    @property
    def chief(self) -> bool:
        return self.index == 0


def read_cluster(base: Path, environ=os.environ, config: str = "input/config") -> Cluster:
    """The hosts from <config>/resourceconfig.json (processing: config), else SM_HOSTS /
    SM_CURRENT_HOST, else one host; JobError when they contradict themselves."""
    path = base / config / "resourceconfig.json"
    try:
        config = json.loads(path.read_text())
        where = path.name
    except FileNotFoundError:
        config = {"hosts": json.loads(environ.get("SM_HOSTS", '["algo-1"]')),
                  "current_host": environ.get("SM_CURRENT_HOST", "algo-1")}
        where = "SM_HOSTS / SM_CURRENT_HOST"
    except (OSError, ValueError) as error:
        raise JobError(f"cannot read {path.name} ({error})") from None
    hosts, current = config.get("hosts"), config.get("current_host")
    if not (isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts)):
        raise JobError(f"{where}: \"hosts\" must be a non-empty list of host names")
    if current not in hosts:
        raise JobError(f"{where}: current_host {current!r} is not one of hosts {hosts}")
    # SageMaker sorts hosts; every host must agree on the order, so sort again.
    return Cluster(tuple(sorted(hosts)), current)


def tf_config(cluster: Cluster, port: int = PORT) -> dict:
    """TF_CONFIG as SageMaker's TensorFlow containers build it for MultiWorkerMirroredStrategy."""
    return {"cluster": {"worker": [f"{host}:{port}" for host in cluster.hosts]},
            "environment": "cloud",
            "task": {"type": "worker", "index": cluster.index}}


def resolve(hosts, resolver=socket.gethostbyname, seconds: float = RESOLVE_SECONDS,
            sleep=time.sleep, clock=time.monotonic) -> dict:
    """host -> address once every host resolves, retrying up to `seconds`; else JobError."""
    deadline = clock() + seconds
    found, wait = {}, 0.5
    while True:
        for host in hosts:
            if host not in found:
                with contextlib.suppress(OSError):  # not resolvable yet: the next round
                    found[host] = resolver(host)
        missing = [host for host in hosts if host not in found]
        if not missing:
            return found
        if clock() >= deadline:
            raise JobError(f"host(s) {', '.join(missing)} did not resolve within {seconds:g} s "
                           "(are all hosts on one network?)")
        sleep(wait)
        wait = min(wait * 2, 5)


def shard(count: int, index: int, workers: int) -> slice:
    """Worker `index`'s rows: every workers-th row from `index`, all shards one size.

    Each worker must run the same number of steps, or the last step's collective waits for
    a peer that has finished; so the last count % workers rows are left out.
    """
    if count < workers:
        raise JobError(f"{count} rows cannot be shared among {workers} hosts")
    return slice(index, count - count % workers, workers)


def peer(error: BaseException, cluster: Cluster) -> str | None:
    """The host a TensorFlow error names (its /job:worker/task:N), other than this one; for a
    collective that timed out, which names only this host's own device, the other hosts."""
    for match in TASK.finditer(str(error)):
        index = int(match.group(1))
        if index < len(cluster.hosts) and index != cluster.index:
            return f"host {cluster.hosts[index]}"
    if "Collective has timed out" in str(error):
        others = [host for host in cluster.hosts if host != cluster.current]
        return f"host {others[0]}" if len(others) == 1 else f"one of hosts {', '.join(others)}"
    return None


def failure_message(cluster: Cluster, message: str, error: BaseException | None = None) -> str:
    """The failure line, naming this host and, when TensorFlow says so, the peer that failed."""
    if not cluster.multi:
        return message
    other = peer(error, cluster) if error is not None else None
    # The peer first: TensorFlow's messages are long, and the line is cut at 1024 characters.
    cause = f"{other} failed or stopped answering: " if other else ""
    return f"host {cluster.current}: {cause}{message}"



def collective_timeout(environ=os.environ) -> float:
    """The collective timeout in seconds: COLLECTIVE_TIMEOUT_SECONDS of the environment, or the
    default; a value that is not a number of seconds above 0 is a job error naming it."""
    text = environ.get(COLLECTIVE_TIMEOUT_VARIABLE)
    if text is None:
        return COLLECTIVE_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise JobError(f"{COLLECTIVE_TIMEOUT_VARIABLE}={text!r} is not a number of seconds "
                       f"greater than 0 (default {COLLECTIVE_TIMEOUT_SECONDS})")
    return seconds


def strategy(cluster: Cluster, timeout: float = COLLECTIVE_TIMEOUT_SECONDS):
    """MultiWorkerMirroredStrategy over the cluster, every host resolved first."""
    resolve(cluster.hosts)
    os.environ["TF_CONFIG"] = json.dumps(tf_config(cluster))
    from training.model import tfenv  # noqa: F401, I001  (before TensorFlow is first imported)

    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def joined(cluster: Cluster, failure: Path):
    """strategy() once every host has joined; after JOIN_SECONDS, the failure file and exit."""
    timeout = collective_timeout()

    def give_up():
        exit_now(cluster, fail(failure, failure_message(
            cluster, f"not every host of {', '.join(cluster.hosts)} joined within "
                     f"{JOIN_SECONDS} s")))

    watchdog = threading.Timer(JOIN_SECONDS, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        return strategy(cluster, timeout)
    finally:
        watchdog.cancel()


def wait_for_chief(cluster: Cluster, stop: list, connect=socket.create_connection,
                   seconds: float = CHIEF_SECONDS, sleep=time.sleep, clock=time.monotonic,
                   seen: bool = True) -> bool:
    """A finished worker stays up until the chief's PORT (its TensorFlow server; processing's
    chief_listening) is gone, as SageMaker's TensorFlow containers keep a parameter server up
    until the master is down.

    SageMaker local mode runs `docker compose up --abort-on-container-exit`: a worker that
    exits first would stop the chief while it still writes its outputs. seen=False: the chief
    may not be listening yet, so wait to see it up first (for at most RESOLVE_SECONDS). True
    once the chief is gone; False after `seconds`, or at SIGTERM (compose stops us).
    """
    start = clock()
    while not stop and clock() < start + (seconds if seen else RESOLVE_SECONDS):
        try:
            connect((cluster.hosts[0], PORT), timeout=2).close()
            seen = True
        except OSError:  # refused, or its name no longer resolves: the chief has exited
            if seen:
                return True
        sleep(1)
    return False


def chief_listening(cluster: Cluster):
    """The chief's PORT, open while its job runs (wait_for_chief); None on other hosts."""
    if cluster.multi and cluster.chief:
        return socket.create_server(("", PORT))
    return None


def exit_now(cluster: Cluster, code: int) -> int:
    """Leave at once on several hosts: after a failed collective, TensorFlow's threads keep the
    process from ever exiting."""
    if cluster.multi:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
