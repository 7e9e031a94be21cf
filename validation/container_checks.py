"""Checks on the image running as SageMaker runs it: `serve`, networking off, the model mounted
read-only at /opt/ml/model, reached only from a sidecar inside its network namespace."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from inference_image.contract import CSV, JSON, JSONLINES, METERING_DIMENSION, METERING_HEADER, Env
from package import rules
from package.errors import ContainerError
from package.report import Check, check

from . import egress_audit, egress_recorder
from .batch import count_input_records, count_output_records

UNKNOWN_MEDIA = "application/x-mpkit-unknown"
AUDIT_DIR = "/opt/mpkit-audit"
BIND_TO_PORT_PROBE = 8089
LOAD_ROWS = (1, 100, 1000)
EGRESS_RECORDER = Path(egress_recorder.__file__).read_text()  # sent as source, run on the client image
EGRESS_RUN_S = 60  # the egress start waits this long at most for a 200
LOAD_CONCURRENCY = (1, 4)
LOAD_REQUESTS = 40


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def parses_as(body: bytes, media: str) -> str | None:
    """None if `body` parses as `media`, else why not."""
    try:
        text = body.decode("utf-8")
        if media == JSON:
            json.loads(text)
        elif media == JSONLINES:
            for line in text.splitlines():
                if line.strip():
                    json.loads(line)
        elif media == CSV:
            list(csv.reader(io.StringIO(text)))
        return None
    except (ValueError, csv.Error) as exc:
        return str(exc)[:200]


def first_record(body: bytes, media: str) -> bytes | None:
    """The body's first record as a request of its own; None when it cannot be told apart."""
    if media in (CSV, JSONLINES):
        line = next((line for line in body.splitlines(keepends=True) if line.strip()), None)
        return line if line is None or line.endswith(b"\n") else line + b"\n"
    if media == JSON:
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("instances"), list) and doc["instances"]:
            return json.dumps({**doc, "instances": doc["instances"][:1]}).encode()
        if isinstance(doc, list) and doc and all(isinstance(i, (list, dict)) for i in doc):
            return json.dumps(doc[:1]).encode()
    return None


def _ping(container):
    # A second past SageMaker's own limit, so that a slow answer is measured rather than lost.
    return container.request("GET", "/ping", timeout=rules.PING_TIMEOUT_S.value + 1)


def line_body(lines: list[bytes], size: int) -> bytes:
    """Whole lines, repeated, up to `size` bytes."""
    out, total, i = [], 0, 0
    while lines and total + len(lines[i % len(lines)]) <= size:
        out.append(lines[i % len(lines)])
        total += len(out[-1])
        i += 1
    return b"".join(out)


def start_causes(pings: list, egress: list[str], error: str) -> list[tuple[str, str]]:
    """Why a container never answered /ping 200, most telling first: (what was seen, the fix)."""
    causes = []
    if egress:
        causes.append((f"it tried the network while starting ({len(egress)} attempts: {'; '.join(egress[:3])})",
                       "install and download everything at build time; the container runs with no network"))
    slow = [p for p in pings if p[1] == 200 and p[3] >= rules.PING_TIMEOUT_S.value]
    if slow:
        causes.append((f"/ping answered 200 only after {min(p[3] for p in slow):.1f} s; SageMaker's health check "
                       f"waits {rules.PING_TIMEOUT_S.value:.0f} s",
                       "answer /ping at once, without touching the model or the disk"))
    if "exited" in error.split("\n", 1)[0]:
        causes.append((error.split("\n", 1)[0].rstrip(":"), "read the log's last lines below"))
    statuses = sorted({p[1] for p in pings if p[1] is not None and p[1] != 200})
    if statuses:
        causes.append((f"/ping answered {', '.join(map(str, statuses))}, never 200",
                       "answer GET /ping with 200 and an empty body once the model is loaded"))
    refused = [p for p in pings if p[1] is None and p[2] and "refused" in p[2].lower()]
    if pings and len(refused) == len(pings):
        causes.append((f"nothing listened on the port: all {len(pings)} tries of /ping were refused",
                       "listen on 0.0.0.0:8080, or on SAGEMAKER_BIND_TO_PORT when it is set"))
    timeouts = [p for p in pings if p[1] is None and p[2] and "timed out" in p[2].lower()]
    if timeouts and not slow:
        causes.append((f"/ping accepted the connection but never answered ({len(timeouts)} tries of "
                       f"{rules.PING_TIMEOUT_S.value:.0f} s)", "serve /ping from a worker that is not busy loading"))
    causes.append((error.split("\n", 1)[0].rstrip(":"),
                   "the server must listen on port 8080 (or SAGEMAKER_BIND_TO_PORT) and answer GET /ping with 200"))
    return causes


class ContainerRun:
    """One start of the image and every check that can share it."""

    def __init__(self, engine, image: str, manifest, model_dir: Path | None, client_image: str, say=print,
                 startup_timeout: float = rules.STARTUP_S.value):
        self.engine, self.image, self.manifest, self.model_dir = engine, image, manifest, model_dir
        self.startup_timeout = startup_timeout
        self.client_image, self.say = client_image, say
        self.checks: list[Check] = []
        self.performance: list[dict] = []
        self.answered: list[tuple] = []  # (what was sent, reply, accept), for the metering check
        self.egress_events: list[str] = []  # the audit hook's and the recorder's, in the order seen
        self.start_failure: tuple | None = None
        config = engine.inspect(image)["Config"] or {}
        self.labels = config.get("Labels") or {}
        image_env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        self.audit_env = {"PYTHONPATH": ":".join(filter(None, [AUDIT_DIR, image_env.get("PYTHONPATH")]))}
        serving = manifest.serving
        self.content_types = list(serving.content_types)
        self.accept_types = list(serving.accept_types)
        self.max_payload = serving.max_payload_bytes
        validation = manifest.validation
        self.rows_media = validation.content_type if validation else CSV
        rows_file = validation.input if validation else None
        self.rows = rows_file.read_bytes().splitlines(keepends=True) if rows_file and rows_file.is_file() else []
        self.instances = []  # JSON input of the declared shape: {"instances": [...]}
        if self.rows_media == JSON and rows_file and rows_file.is_file():
            try:
                doc = json.loads(rows_file.read_bytes())
                self.instances = doc["instances"] if isinstance(doc, dict) and isinstance(doc.get("instances"), list) else []
            except ValueError:
                self.instances = []

    @property
    def line_rows(self) -> bool:
        """Whether the validation input gives records that can be repeated into bodies of any size."""
        return (bool(self.rows) and self.rows_media in (CSV, JSONLINES)) or bool(self.instances)

    def body_of(self, size: int) -> bytes:
        """Whole records of the validation input, repeated, up to `size` bytes."""
        if not self.instances:
            return line_body(self.rows, size)
        each = max(1, len(json.dumps(self.instances)) // len(self.instances))
        count = max(1, (size - 20) // (each + 2))
        while True:
            body = json.dumps({"instances": (self.instances * (count // len(self.instances) + 1))[:count]}).encode()
            if len(body) <= size or count == 1:
                return body
            count = int(count * size / len(body) * 0.99) or 1

    def records_body(self, records: int) -> bytes:
        if self.instances:
            return json.dumps({"instances": (self.instances * (records // len(self.instances) + 1))[:records]}).encode()
        return b"".join((self.rows * (records // len(self.rows) + 1))[:records])

    def run(self) -> None:
        with tempfile.TemporaryDirectory(prefix="mpkit-audit-") as audit:
            (Path(audit) / "sitecustomize.py").write_text(egress_audit.SITECUSTOMIZE)
            self.say(f"starting {self.image} as SageMaker does (serve, networking off)")
            with self.engine.serve(self.image, model_dir=self.model_dir, env=self.audit_env,
                                   mounts={audit: AUDIT_DIR}, client_image=self.client_image) as container:
                started = self._startup(container)
                if started:
                    self._serving_checks(container, audit)
            # Any process, not only Python: a second start inside the recorder's namespace. It
            # runs when the start failed too, where it explains most.
            self._any_process_egress(audit)
            if not started:
                self._start_failed()
            self._egress()

    def _serving_checks(self, container, audit) -> None:
        self._ping(container)
        self._content_matrix(container)
        self._errors(container)
        self._metering()
        self._payloads(container)
        self._load(container)
        peak = container.memory_peak()
        seconds, code = container.stop(int(rules.SIGTERM_S.value))
        self._sigterm(seconds, code)
        self.egress_events += egress_audit.events(container.logs())
        self._memory(peak)
        self._bind_to_port(audit)

    # ---- each check
    def _startup(self, container) -> bool:
        try:
            ready = container.wait_ready(self.startup_timeout)
        except ContainerError as exc:
            logs = container.logs()
            self.egress_events += egress_audit.events(logs)
            self.start_failure = (list(getattr(container, "pings", [])), str(exc))
            return False
        self.checks.append(check("startup", rules.STARTUP_S.text, rules.STARTUP_S.source, True,
                                 round(ready, 2), rules.STARTUP_S.value))
        return True

    def _start_failed(self) -> None:
        """The startup check with its causes, once the egress of every process is known."""
        pings, error = self.start_failure
        causes = start_causes(pings, self.egress_events, error)
        self.checks.append(check("startup", rules.STARTUP_S.text, rules.STARTUP_S.source, False,
                                 causes[0][0], f"{rules.STARTUP_S.value:.0f} s", causes[0][1],
                                 [line for line, _ in causes] + error.splitlines()[-15:]))
        slow = [p for p in pings if p[1] == 200 and p[3] >= rules.PING_TIMEOUT_S.value]
        if slow:  # /ping's time is a rule of its own, said where it belongs too
            self.checks.append(check("ping-time", rules.PING_TIMEOUT_S.text, rules.PING_TIMEOUT_S.source, False,
                                     round(min(p[3] for p in slow), 3), rules.PING_TIMEOUT_S.value,
                                     "answer /ping without touching the model"))

    def _any_process_egress(self, audit: str) -> None:
        """Start the image once more inside the egress recorder's loopback-only namespace: every
        name looked up and every connection to a download port, from any process, is seen. The
        image gets as far as it can (a /ping 200 and one sample answered), then is stopped."""
        sample = self.manifest.samples[0] if self.manifest.samples else None
        with self.engine.egress_recorder(self.client_image, EGRESS_RECORDER, egress_recorder.READY) as (holder, output):
            with self.engine.serve(self.image, model_dir=self.model_dir, env=self.audit_env, mounts={audit: AUDIT_DIR},
                                   client_image=self.client_image, join=holder) as container:
                try:
                    container.wait_ready(min(self.startup_timeout, EGRESS_RUN_S))
                    if sample is not None:
                        container.invoke(sample.file.read_bytes(), sample.content_type, sample.accept, timeout=30)
                except ContainerError:
                    pass  # a start that fails has told its causes; what it tried is below
                with contextlib.suppress(Exception):
                    container.stop(5)
            for line in output().splitlines():
                if line.startswith(egress_recorder.DNS_PREFIX):
                    name = line.split()[1]
                    event = f"any process: looked up {name}"
                elif line.startswith(egress_recorder.CONNECT_PREFIX):
                    event = f"any process: connected to port {line.split()[1]} (of a name it looked up)"
                else:
                    continue
                if event not in self.egress_events:
                    self.egress_events.append(event)

    def _ping(self, container) -> None:
        replies = [_ping(container) for _ in range(5)]
        bad = [f"{r.status} body={r.body[:60]!r}" + (f" error={r.error}" if r.error else "") for r in replies
               if r.status != 200 or r.body]
        slowest = max(r.elapsed for r in replies)
        self.checks.append(check("ping", "GET /ping answers 200 with an empty body", "SM-HOST", not bad,
                                 bad[0] if bad else "200, empty", "200, empty",
                                 "return status 200 and no body from /ping (not 'OK', not JSON)", bad))
        self.checks.append(check("ping-time", rules.PING_TIMEOUT_S.text, rules.PING_TIMEOUT_S.source,
                                 slowest < rules.PING_TIMEOUT_S.value, round(slowest, 3), rules.PING_TIMEOUT_S.value,
                                 "answer /ping without touching the model"))

    def _content_matrix(self, container) -> None:
        samples = {s.content_type: s for s in self.manifest.samples}
        problems, tried = [], 0
        counted, miscounted = 0, []
        for content_type in self.content_types:
            sample = samples.get(content_type)
            if sample is None:
                problems.append(f"no sample for {content_type}: add one to `samples`")
                continue
            whole = sample.file.read_bytes()
            # The sample as given, and its first record alone: a server that drops or adds a record
            # is caught here, not only in the batch replay.
            records = count_input_records(whole, content_type)
            bodies = [(sample.file.name, whole, records)]
            one = first_record(whole, content_type)
            if one is not None and (records or 0) > 1:
                bodies.append((f"{sample.file.name}'s first record", one, 1))
            for label, body, sent in bodies:
                for accept in self.accept_types:
                    tried += 1
                    reply = container.invoke(body, content_type, accept)
                    where = f"{label} as {content_type} -> {accept}"
                    self.answered.append((where, reply, accept))
                    if reply.status is None or not 200 <= reply.status < 300:
                        problems.append(f"{where}: {reply.status or reply.error} {reply.body[:200]!r}")
                    elif _media(reply.content_type) != accept:
                        problems.append(f"{where}: answered Content-Type {reply.content_type!r}")
                    elif (why := parses_as(reply.body, accept)) is not None:
                        problems.append(f"{where}: the body does not parse as {accept}: {why}")
                    else:
                        counted += 1
                        try:
                            answered = count_output_records(reply.body, accept)
                        except ValueError:
                            answered = None
                        if sent is not None and answered != sent:
                            miscounted.append(f"{where}: {sent} record(s) sent, {answered} answered")
        self.checks.append(check("content-matrix", "each declared input type with each declared response type answers "
                                 "2xx with that Content-Type and a body that parses", "SM-HOST", not problems,
                                 f"{tried - len(problems)}/{tried} requests", f"{tried}/{tried}",
                                 "serve every type the manifest declares, or declare only what you serve", problems))
        self.checks.append(check("record-count-realtime", "an answer has one record per record sent, for one record "
                                 "and for many, in every content type (a batch mini-batch is such a request)", "SM-BT",
                                 not miscounted, f"{counted - len(miscounted)}/{counted} answers", f"{counted}/{counted}",
                                 "answer one output record per input record, in order", miscounted))

    def _error_cases(self) -> list[tuple[str, bytes, str | None, str | None]]:
        sample = next((s for s in self.manifest.samples if s.content_type == CSV), None) \
            or (self.manifest.samples[0] if self.manifest.samples else None)
        content_type = sample.content_type if sample else self.content_types[0]
        first = sample.file.read_bytes().splitlines()[0] if sample else b"1"
        malformed = {CSV: b"\"unterminated,quote\n1,2\n", JSON: b"{not json",
                     JSONLINES: b"{not json}\n"}.get(content_type, b"\xff\xfe\x00garbage")
        wrong_count = first.rstrip(b"\n") + b",1,2,3\n" if content_type == CSV else \
            (b'{"instances": [[1, 2]]}' if content_type == JSON else b'[1, 2]\n')
        return [
            ("unsupported Content-Type", first, UNKNOWN_MEDIA, None),
            ("unsupported Accept", first, content_type, UNKNOWN_MEDIA),
            ("malformed body", malformed, content_type, None),
            ("empty body", b"", content_type, None),
            ("wrong feature count", wrong_count, content_type, None),
        ]

    def _errors(self, container) -> None:
        problems = []
        for name, body, content_type, accept in self._error_cases():
            reply = container.invoke(body, content_type, accept)
            self.answered.append((name, reply, accept))
            if reply.status is None:
                problems.append(f"{name}: connection dropped ({reply.error})")
            elif not 400 <= reply.status < 500:
                problems.append(f"{name}: answered {reply.status} (Marketplace bills every 2xx)")
            ping = _ping(container)
            if ping.status != 200:
                problems.append(f"{name}: /ping answered {ping.status or ping.error} afterwards")
        self.checks.append(check("errors-4xx", "bad requests (unsupported Content-Type or Accept, malformed, empty, "
                                 "wrong feature count) get a 4xx, never a 2xx or a dropped connection, and /ping "
                                 "stays 200", "MP-REQ", not problems, f"{5 - len(problems)}/5 cases", "5/5 cases",
                                 "raise a client error (400/406/413/415) for bad input; never return 200 with an "
                                 "error message", problems))

    def _metering(self) -> None:
        """Per-inference pricing: the usage header on every 2xx, with the records answered, and on
        no error. Under other pricing a header is ignored by Marketplace: a warning."""
        metered = self.manifest.pricing.metered
        problems, seen, errors_metered = [], 0, False
        for where, reply, accept in self.answered:
            header = next((v for k, v in reply.headers.items() if k.lower() == METERING_HEADER.lower()), None)
            ok_status = reply.status is not None and 200 <= reply.status < 300
            seen += header is not None
            if not ok_status:
                if header is not None:
                    errors_metered = True
                    problems.append(f"{where}: a {reply.status} carries {METERING_HEADER}: an error must not be metered")
                continue
            if not metered:
                if header is not None:
                    problems.append(f"{where}: {METERING_HEADER} sent, but the product is not priced per inference")
                continue
            if header is None:
                problems.append(f"{where}: a {reply.status} without {METERING_HEADER}")
                continue
            try:
                value = json.loads(header)
                units = value["ConsumedUnits"]
            except (ValueError, TypeError, KeyError):
                problems.append(f"{where}: {METERING_HEADER} is not {{Dimension, ConsumedUnits}} JSON: {header[:100]!r}")
                continue
            records = count_output_records(reply.body, accept)
            if value.get("Dimension") != METERING_DIMENSION or not isinstance(units, int) or units <= 0 or units != records:
                problems.append(f"{where}: {header[:100]} (answered {records} records; want Dimension "
                                f"{METERING_DIMENSION!r} and ConsumedUnits {records})")
        rule = (f"under per-inference pricing every 2xx carries {METERING_HEADER} with Dimension {METERING_DIMENSION} "
                "and ConsumedUnits the records answered, and no error carries it" if metered else
                f"no {METERING_HEADER} when the product is not priced per inference (Marketplace ignores it), none on errors")
        hint = ("set pricing.model: inference in the manifest and rebuild (mpkit's image then meters), or send the header "
                "on each 2xx from your server" if metered else
                "drop the header, or declare pricing.model: inference if the product is priced per inference")
        self.checks.append(check("metering", rule, rules.METERING_SOURCE, not problems,
                                 f"{seen} of {len(self.answered)} answers metered", "every 2xx" if metered else "none",
                                 hint, problems, warn_only=not metered and not errors_metered))

    def _payloads(self, container) -> None:
        if not self.line_rows:
            self.checks.append(check("payload-realtime", "a request just under 6 MiB is answered", "API-RT", False,
                                     "not measured", "6 MiB", "give validation.input as CSV or JSON Lines rows, or JSON "
                                     "as {\"instances\": [...]}", warn_only=True))
            return
        # Just under the API's 6 MiB, whatever the product declares: a buyer's endpoint takes that.
        limit = int(rules.REALTIME_PAYLOAD_BYTES.value)
        big = self.body_of(limit - 4096)
        future = container.sidecar.submit("POST", "/invocations", big, {"Content-Type": self.rows_media}, 120)
        pings = []
        while not future.done() and len(pings) < 20:
            pings.append(_ping(container))
            time.sleep(0.05)
        reply = future.result(180)
        ok = reply.status is not None and 200 <= reply.status < 300
        self.checks.append(check("payload-realtime", f"a {len(big)}-byte request (just under {rules.REALTIME_PAYLOAD_BYTES.text}) "
                                 "is answered", rules.REALTIME_PAYLOAD_BYTES.source, ok,
                                 f"{reply.status or reply.error}", "2xx",
                                 "accept bodies up to 6 MiB: raise the server's body limit (AWS's sample caps at 5 MB, "
                                 "aws/amazon-sagemaker-examples#2793)", [reply.body[:200]] if not ok else []))
        self.checks.append(check("invocation-time", rules.REALTIME_TIME_S.text, rules.REALTIME_TIME_S.source,
                                 ok and reply.elapsed <= rules.REALTIME_TIME_S.value, round(reply.elapsed, 2),
                                 rules.REALTIME_TIME_S.value,
                                 "a buyer's largest request must finish in 60 s: speed up the model or lower the "
                                 "declared max payload"))
        slow = max((p.elapsed for p in pings if p.status == 200), default=0.0)
        bad = [p for p in pings if p.status != 200]
        self.checks.append(check("ping-under-load", "/ping answers 200 within 2 s while a large request runs",
                                 rules.PING_TIMEOUT_S.source, not bad and slow < rules.PING_TIMEOUT_S.value,
                                 f"{len(pings)} pings, slowest {slow:.3f} s" + (f", {len(bad)} failed" if bad else ""),
                                 rules.PING_TIMEOUT_S.value,
                                 "serve /ping from a worker that is not busy (more workers, or a separate thread)"))
        over = self.body_of(self.max_payload + rules.MIB)
        reply = container.invoke(over, self.rows_media, timeout=120)
        ping = _ping(container)
        ok = reply.status == 413 and ping.status == 200
        self.checks.append(check("payload-over-limit", "a request over the declared max payload is refused with 413 "
                                 "and the server keeps answering", "MP-LIMITS", ok,
                                 f"{reply.status or reply.error}, then /ping {ping.status}", "413, then /ping 200",
                                 "check Content-Length against the limit and answer 413 (Payload Too Large)"))

    def _load(self, container) -> None:
        if not self.line_rows:
            return
        for rows in LOAD_ROWS:
            body = self.records_body(rows)
            if len(body) > self.max_payload:
                break  # the sweep stays within the declared payload limit
            for concurrency in LOAD_CONCURRENCY:
                started = time.monotonic()
                latencies, failures, sent = [], 0, 0
                in_flight = []
                while sent < LOAD_REQUESTS or in_flight:
                    while sent < LOAD_REQUESTS and len(in_flight) < concurrency:
                        in_flight.append(container.sidecar.submit("POST", "/invocations", body, {"Content-Type": self.rows_media}, 60))
                        sent += 1
                    reply = in_flight.pop(0).result(120)
                    if reply.status == 200:
                        latencies.append(reply.elapsed * 1000)
                    else:
                        failures += 1
                seconds = time.monotonic() - started
                latencies.sort()
                self.performance.append({
                    "rows": rows, "bytes": len(body), "concurrency": concurrency, "requests": LOAD_REQUESTS,
                    "failures": failures, "requests_per_s": round(LOAD_REQUESTS / seconds, 1),
                    "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
                    "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2) if latencies else None,
                    "client": "sidecar relay in the container's namespace (adds its own overhead)"})

    def _sigterm(self, seconds: float, code: int) -> None:
        ok = seconds < rules.SIGTERM_S.value and code != 137
        self.checks.append(check("sigterm", "the container exits on SIGTERM before SIGKILL comes 30 s later",
                                 rules.SIGTERM_S.source, ok, f"{seconds:.2f} s, exit code {code}", rules.SIGTERM_S.value,
                                 "use an exec-form ENTRYPOINT so the server is PID 1 and gets SIGTERM, and handle it"))

    def _egress(self) -> None:
        events = self.egress_events
        self.checks.append(check("egress", "the container resolves no names and opens no connections, from any process "
                                 "(it runs with no network)", "MP-SEC", not events, f"{len(events)} attempts", "none",
                                 "bake every file the model needs into the image or model.tar.gz; install at build time",
                                 events))

    def _memory(self, peak: int | None) -> None:
        smallest = min((instance_memory(t) for t in self.manifest.instance_types.all), default=None,
                       key=lambda m: m or 1e30)
        ok = peak is None or smallest is None or peak < smallest * 0.8
        self.checks.append(check("memory", "peak memory in this run stays under 80% of the smallest declared "
                                 "instance's memory (a report: instance memory from the EC2 naming scheme)", "mpkit",
                                 ok, peak, int(smallest * 0.8) if smallest else None,
                                 "declare larger instance types or load a smaller model", warn_only=True))

    def _bind_to_port(self, audit: str) -> None:
        if self.labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") != "true":
            return
        env = {**self.audit_env, Env.BIND_TO_PORT: str(BIND_TO_PORT_PROBE), Env.SAFE_PORT_RANGE: "8000-9999"}
        with self.engine.serve(self.image, model_dir=self.model_dir, env=env, port=BIND_TO_PORT_PROBE,
                               mounts={audit: AUDIT_DIR}, client_image=self.client_image) as container:
            try:
                ready = container.wait_ready(min(60, self.startup_timeout))
                ok, measured = True, f"/ping on {BIND_TO_PORT_PROBE} after {ready:.2f} s"
            except ContainerError:
                ok, measured = False, f"nothing answered on {BIND_TO_PORT_PROBE}"
        self.checks.append(check("bind-to-port", "an image labelled accept-bind-to-port listens on "
                                 "SAGEMAKER_BIND_TO_PORT", "SM-PIPE", ok, measured, f"port {BIND_TO_PORT_PROBE}",
                                 "read SAGEMAKER_BIND_TO_PORT (default 8080) when binding, or drop the label"))


# vCPUs by size and GiB per vCPU by family letter, from the EC2 instance-type naming scheme;
# an unknown type gives None and the memory check only reports.
_SIZE_VCPUS = {"medium": 1, "large": 2, "xlarge": 4, **{f"{n}xlarge": 4 * n for n in (2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 32, 48)}}
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "t": 4, "g": 4, "p": 8, "inf": 2, "trn": 16, "x": 16, "z": 8}


def instance_vcpus(instance_type: str) -> int | None:
    """vCPUs of an ml.* instance type from the EC2 naming scheme (size), None when unknown."""
    return _SIZE_VCPUS.get(instance_type.rsplit(".", 1)[-1])


def instance_memory(instance_type: str) -> int | None:
    try:
        _, family, size = instance_type.split(".")
    except ValueError:
        return None
    letters = "".join(ch for ch in family if ch.isalpha())
    per = _GIB_PER_VCPU.get(letters) or _GIB_PER_VCPU.get(letters[:1])
    vcpus = _SIZE_VCPUS.get(size)
    return per * vcpus * 1024 ** 3 if per and vcpus else None
