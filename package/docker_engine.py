"""The one narrow wrapper over the Docker engine: build with networking off, run an image as
SageMaker runs it, talk to it from inside its own network namespace, stop it and time the stop.

SageMaker starts a Marketplace container as `docker run IMAGE serve` with no network at all
(MP-SEC, SM-HOST). A container started with `--network none` has only a loopback interface, and
published ports are ignored, so the host cannot reach it directly. Requests go through a
*sidecar*: a second container that joins the target's network namespace (it gives the target no
route out) and relays to 127.0.0.1 inside that namespace. It offers two channels: a Unix socket
in a host folder mounted into the sidecar only, over which the host speaks plain HTTP (bytes are
copied by the kernel, hundreds of MB/s), and its stdin/stdout (requests as JSON lines, a few
MB/s through the engine's attach stream), used where a socket cannot cross into the engine's
machine (Docker Desktop's VM). Both need nothing but the engine, root or not.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from . import rules, sidecar_relay
from .errors import BuildError, ContainerError, DockerUnavailable

# The relay runs in the sidecar as source text: a real module of this package, linted and tested.
SIDECAR = Path(__file__).with_name("sidecar_relay.py").read_text()


@dataclass
class Reply:
    status: int | None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")

    def json(self):
        return json.loads(self.body)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class Sidecar:
    """Relays HTTP requests into a container's network namespace (see the module docstring)."""

    SOCKET_WAIT_S = 5

    def __init__(self, engine: "Engine", target_id: str, image: str, port: int, use_socket: bool = True):
        self.port = port
        self.folder = tempfile.mkdtemp(prefix="mpkit-relay-")
        self.socket_path = f"{self.folder}/{sidecar_relay.SOCKET_NAME}"
        # None: decided on first use; False: the stdin channel only (as on Docker Desktop).
        self._socket_ok: bool | None = None if use_socket else False
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="mpkit-relay")
        api = engine.client.api
        # Through the engine's API like every other container: stdin kept open and attached, so the
        # JSON-line channel works wherever the engine is (StdinOnce: closing it ends the relay).
        self._api = api
        self._id = api.create_container(
            image, command=["-u", "-c", SIDECAR, str(port)], entrypoint=["python3"], stdin_open=True, detach=False,
            host_config=api.create_host_config(
                network_mode=f"container:{target_id}", auto_remove=True,
                binds={self.folder: {"bind": sidecar_relay.RELAY_FOLDER, "mode": "rw"}} if use_socket else None),
        )["Id"]
        attached = api.attach_socket(self._id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._stream = getattr(attached, "_sock", attached)
        self._attached = attached
        self._exited = threading.Event()
        self._stderr = b""
        self._pending: dict[int, Future] = {}
        self._next = 0
        self._lock = threading.Lock()
        try:
            api.start(self._id)
        except docker.errors.APIError as exc:
            # The target exited before the relay could join its namespace: every request says so
            # at once, and the caller's wait sees the exit and reports it with the target's log.
            self._socket_ok = False
            self._stderr = f"the relay could not join the container (it had exited): {exc.explanation or exc}".encode()
            self._exited.set()
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(self._id, force=True)
            return
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _socket_usable(self) -> bool:
        """Decided once: the socket appears within seconds where it can cross, never where not."""
        with self._lock:
            if self._socket_ok is None:
                deadline = time.monotonic() + self.SOCKET_WAIT_S
                while self._socket_ok is None:
                    try:
                        with socket.socket(socket.AF_UNIX) as probe:
                            probe.connect(self.socket_path)
                        self._socket_ok = True
                    except OSError:
                        if time.monotonic() > deadline or self._exited.is_set():
                            self._socket_ok = False
                        else:
                            time.sleep(0.02)
            return self._socket_ok

    def _over_socket(self, method: str, path: str, body: bytes, headers: dict | None, timeout: float) -> Reply:
        started = time.monotonic()
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except (BrokenPipeError, ConnectionResetError):
                pass  # an answer sent before the whole body was read: read it, as a client would
            response = conn.getresponse()
            data = response.read()
            relay_error = response.getheader(sidecar_relay.RELAY_ERROR_HEADER)
            if relay_error:  # the relay's own answer: nothing accepted the connection
                return Reply(None, elapsed=time.monotonic() - started, error=relay_error)
            return Reply(response.status, dict(response.getheaders()), data, time.monotonic() - started)
        except (OSError, http.client.HTTPException) as exc:
            return Reply(None, elapsed=time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._stream.recv(size - len(data))
            if not chunk:
                return b""
            data += chunk
        return data

    def _read(self) -> None:
        """Demultiplex the attach stream (8-byte frame headers: stream, size) into answer lines."""
        line = b""
        try:
            while header := self._recv(8):
                data = self._recv(int.from_bytes(header[4:8], "big"))
                if header[0] == 2:
                    self._stderr = (self._stderr + data)[-2000:]
                    continue
                line += data
                while b"\n" in line:
                    text, line = line.split(b"\n", 1)
                    self._answer(json.loads(text))
        except OSError:
            pass
        finally:
            self._exited.set()
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_result(Reply(None, error="the sidecar exited: " + self._stderr.decode(errors="replace")[-500:]))

    def _answer(self, data: dict) -> None:
        future = self._pending.pop(data["id"], None)
        if future is not None:
            future.set_result(Reply(data.get("status"), data.get("headers", {}), base64.b64decode(data.get("body", "")),
                                    data["elapsed"], data.get("error")))

    def submit(self, method: str, path: str, body: bytes = b"", headers: dict | None = None, timeout: float = 90) -> Future:
        if self._socket_usable():
            return self._pool.submit(self._over_socket, method, path, body, headers, timeout)
        future: Future = Future()
        if self._exited.is_set():
            future.set_result(Reply(None, error="the sidecar exited: " + self._stderr.decode(errors="replace")[-500:]))
            return future
        with self._lock:
            self._next += 1
            rid = self._next
            self._pending[rid] = future
            line = json.dumps({"id": rid, "method": method, "path": path, "headers": headers or {},
                               "body": base64.b64encode(body).decode(), "port": self.port, "timeout": timeout})
            try:
                self._stream.sendall(line.encode() + b"\n")
            except OSError:
                self._pending.pop(rid, None)
                future.set_result(Reply(None, error="the sidecar is gone"))
        return future

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None, timeout: float = 90) -> Reply:
        if self._socket_usable():
            return self._over_socket(method, path, body, headers, timeout)
        return self.submit(method, path, body, headers, timeout).result(timeout + 30)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(OSError):
            self._stream.shutdown(socket.SHUT_WR)  # EOF on the relay's stdin: it exits
        try:
            self._api.wait(self._id, timeout=10)
        except Exception:  # a relay that will not end is killed, whatever the engine says
            with contextlib.suppress(docker.errors.APIError):
                self._api.kill(self._id)
        with contextlib.suppress(OSError):
            self._attached.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class ServingContainer:
    """A container started as SageMaker starts it; a context manager that always cleans up."""

    def __init__(self, engine: "Engine", image: str, *, model_dir: Path | None = None, env: dict | None = None,
                 port: int = 8080, client_image: str | None = None, mounts: dict[str, str] | None = None,
                 join: str | None = None):
        """`mounts` maps host folders to read-only paths in the container, beside the model.
        `join` names a container (networking off too) whose loopback-only namespace this one
        shares instead of a new one of its own: the egress recorder's."""
        self.engine, self.image, self.port = engine, image, port
        volumes = {str(Path(host).resolve()): {"bind": inside, "mode": "ro"} for host, inside in (mounts or {}).items()}
        if model_dir:
            volumes[str(Path(model_dir).resolve())] = {"bind": "/opt/ml/model", "mode": "ro"}
        self.started_at = time.monotonic()
        self.container = engine.client.containers.run(
            image, ["serve"], detach=True, network_mode=f"container:{join}" if join else "none", volumes=volumes or None,
            environment=env or {}, labels={"mpkit": "serving"}, init=False)
        self.sidecar = Sidecar(engine, join or self.container.id, client_image or image, port)
        self.stopped = False
        self.kept = False

    def __enter__(self) -> "ServingContainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None, timeout: float = 90) -> Reply:
        return self.sidecar.request(method, path, body, headers, timeout)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None = None, timeout: float = 90) -> Reply:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", body, headers, timeout)

    def running(self) -> bool:
        self.container.reload()
        return self.container.status == "running"

    # A /ping slower than the limit fails SageMaker's health check; one that only ever answers
    # that slowly will never pass it, so the wait stops after this many in a row.
    PING_LIMIT_S = rules.PING_TIMEOUT_S.value
    SLOW_PINGS = 3

    def wait_ready(self, timeout: float = 480) -> float:
        """Seconds from container start to the first 200 on /ping within 2 s (SM-HOST allows 8
        minutes to get there). Every try is kept in `pings` (seconds after start, status, error,
        seconds taken), for the caller to say why a start failed."""
        deadline = self.started_at + timeout
        self.pings: list[tuple[float, int | None, str | None, float]] = []
        slow = 0
        while time.monotonic() < deadline:
            reply = self.request("GET", "/ping", timeout=self.PING_LIMIT_S)
            self.pings.append((time.monotonic() - self.started_at, reply.status, reply.error, reply.elapsed))
            if reply.status == 200:
                return time.monotonic() - self.started_at
            if reply.error and "timed out" in reply.error.lower():
                # Accepted, but no answer within the limit: measure how long an answer takes.
                late = self.request("GET", "/ping", timeout=30)
                self.pings.append((time.monotonic() - self.started_at, late.status, late.error, late.elapsed))
                slow = slow + 1 if late.status == 200 else 0
                if slow >= self.SLOW_PINGS:
                    raise ContainerError(f"/ping answers 200 only after {late.elapsed:.1f} s; SageMaker's health check "
                                         f"waits {self.PING_LIMIT_S:.0f} s, so it would never pass",
                                         hint="answer /ping at once, without touching the model or the disk")
            if not self.running():
                code = self.container.attrs.get("State", {}).get("ExitCode")
                raise ContainerError(f"the container exited (code {code}) before /ping answered 200:\n{self.logs()[-3000:]}",
                                     hint="read the log above; `mpkit predict` shows the same start as SageMaker")
            time.sleep(0.05)
        raise ContainerError(f"/ping did not answer 200 within {timeout:.0f} s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        try:
            return self.container.logs().decode(errors="replace")
        except docker.errors.NotFound:
            return ""

    def memory_peak(self) -> int | None:
        """Peak memory in bytes so far (cgroup v1 max_usage), else the current usage."""
        try:
            stats = self.container.stats(stream=False).get("memory_stats") or {}
        except docker.errors.APIError:
            return None
        return stats.get("max_usage") or stats.get("usage")

    def stop(self, timeout: int = 30) -> tuple[float, int]:
        """SIGTERM, then SIGKILL after `timeout` (SM-HOST: 30 s); returns (seconds, exit code)."""
        started = time.monotonic()
        self.container.stop(timeout=timeout)
        result = self.container.wait(timeout=timeout + 30)
        self.stopped = True
        return time.monotonic() - started, int(result.get("StatusCode", -1))

    def keep(self) -> str:
        """Leave the container running when the block ends; its name."""
        self.kept = True
        self.container.reload()
        return self.container.name

    def close(self) -> None:
        self.sidecar.close()
        if self.kept:
            return
        try:
            if not self.stopped:
                self.container.stop(timeout=30)
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass


class Engine:
    def __init__(self):
        try:
            self.client = docker.from_env(timeout=900)
            self.client.ping()
        except Exception as exc:  # the SDK raises several kinds; all mean "no engine here"
            raise DockerUnavailable(f"no Docker engine answers: {exc}") from None

    def image_exists(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def pull(self, ref: str) -> bool:
        try:
            self.client.images.pull(ref)
            return True
        except docker.errors.APIError:
            return False

    def tag(self, image: str, ref: str) -> None:
        repository, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        self.client.images.get(image).tag(repository, tag)

    def untag(self, ref: str) -> None:
        """Remove one tag, never the image it names (which keeps its other tags)."""
        try:
            self.client.api.remove_image(ref, noprune=True)
        except docker.errors.NotFound:
            pass

    def login(self, registry: str, username: str, password: str) -> None:
        try:
            self.client.login(username=username, password=password, registry=registry, reauth=True)
        except docker.errors.APIError as exc:
            raise ContainerError(f"docker login to {registry} failed: {exc.explanation or exc}",
                                 hint="the registry token may have expired; run the command again") from None

    def push(self, ref: str, progress=None) -> str:
        """Push `repo:tag`; returns the manifest digest the registry reports. `progress(done, total)`
        is called with bytes pushed so far across layers."""
        repository, _, tag = ref.rpartition(":")
        layers: dict[str, tuple[int, int]] = {}
        digest = None
        for event in self.client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ContainerError(f"pushing {ref} failed: {event['error']}",
                                     hint="check the registry is reachable and the login is current; then run again")
            detail = event.get("progressDetail") or {}
            if event.get("id") and detail.get("total"):
                layers[event["id"]] = (min(detail.get("current", 0), detail["total"]), detail["total"])
            elif event.get("id") and event.get("status") in ("Pushed", "Layer already exists") and event["id"] in layers:
                layers[event["id"]] = (layers[event["id"]][1], layers[event["id"]][1])
            if progress and layers:
                progress(sum(c for c, _ in layers.values()), sum(t for _, t in layers.values()))
            digest = (event.get("aux") or {}).get("Digest") or digest
        if not digest:
            raise ContainerError(f"the registry did not report a digest for {ref}")
        return digest

    def import_image(self, tar_stream, ref: str) -> None:
        repository, _, tag = ref.rpartition(":")
        self.client.api.import_image_from_data(tar_stream.read(), repository=repository, tag=tag)

    def inspect(self, ref: str) -> dict:
        return self.client.api.inspect_image(ref)

    def build(self, context: Path, tags: list[str], buildargs: dict, say=print, target: str | None = None) -> str:
        """Build with networking off (the image must fetch nothing); returns the image id. `target`
        stops at that stage of the Dockerfile."""
        image_id, last_error, log_tail = None, None, []
        stream = self.client.api.build(path=str(context), tag=tags[0], buildargs=buildargs, network_mode="none",
                                       rm=True, forcerm=True, decode=True, target=target)
        for chunk in stream:
            if "stream" in chunk:
                text = chunk["stream"].rstrip()
                if text:
                    log_tail = (log_tail + [text])[-40:]
                    if text.startswith("Step "):
                        say("  " + text)
            if "error" in chunk:
                last_error = chunk["error"]
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
        if last_error or not image_id:
            raise BuildError(f"docker build failed: {last_error}\n" + "\n".join(log_tail),
                             hint="the build runs with networking off: every dependency must be in the wheelhouse")
        image = self.client.images.get(image_id)
        for tag in tags[1:]:
            repository, _, version = tag.rpartition(":")
            image.tag(repository, version)
        return image_id

    @contextlib.contextmanager
    def _created(self, image: str):
        """A container created from the image and never started: its files, nothing run."""
        container = self.client.containers.create(image, ["serve"], network_mode="none")
        try:
            yield container
        finally:
            container.remove(force=True)

    @contextlib.contextmanager
    def egress_recorder(self, image: str, program: str, ready: str, timeout: float = 30):
        """A container running `program` (python3 -c) with networking off and its resolver
        pointed at its own loopback; yields (its ID, a function returning its output so far)
        once it printed `ready`, and removes it after."""
        container = self.client.containers.run(image, ["python3", "-u", "-c", program], detach=True, network_mode="none",
                                               dns=["127.0.0.1"], labels={"mpkit": "egress-recorder"}, init=False)
        try:
            def output() -> str:
                return container.logs().decode(errors="replace")

            deadline = time.monotonic() + timeout
            while ready not in output():
                container.reload()
                if container.status != "running" or time.monotonic() > deadline:
                    raise ContainerError(f"the egress recorder did not start:\n{output()[-2000:]}")
                time.sleep(0.05)
            yield container.id, output
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)

    def run_once(self, image: str, argv: list[str], entrypoint: list[str] | None = None, timeout: float = 120) -> tuple[int, str]:
        """Run a command in the image with networking off; its exit code and output."""
        container = self.client.containers.create(image, argv, entrypoint=entrypoint, network_mode="none")
        try:
            container.start()
            code = int(container.wait(timeout=timeout).get("StatusCode", -1))
            return code, container.logs().decode(errors="replace")
        finally:
            container.remove(force=True)

    def export(self, image: str):
        """The image's filesystem as a stream of tar chunks."""
        with self._created(image) as container:
            yield from container.export(chunk_size=1024 * 1024)

    def read_file(self, image: str, path: str, limit: int = 1024 * 1024) -> str | None:
        """A text file from the image, or None when it is not there."""
        with self._created(image) as container:
            try:
                chunks, _ = container.get_archive(path)
            except docker.errors.NotFound:
                return None
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member and member.isfile() else None
                return handle.read(limit).decode(errors="replace") if handle else None

    def serve(self, image: str, **kwargs) -> ServingContainer:
        return ServingContainer(self, image, **kwargs)
