"""The batch-transform job, replayed locally as SageMaker runs it (SM-BATCH, SM-BT, API).

SageMaker reads each input object, splits it into records (`SplitType`), packs records into
mini-batches (`BatchStrategy`, up to `MaxPayloadInMB`), keeps `MaxConcurrentTransforms` requests
in flight, retries a failed request (`ModelClientConfig`), and writes `<input>.out` only when
the whole file succeeded, records in input order, a newline after each response when
`AssembleWith` is Line. Files are never mixed in one mini-batch. A record larger than
`MaxPayloadInMB` fails the file. This module streams: a file is read a block at a time, and at
most MaxConcurrentTransforms + 1 mini-batches are in memory.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from inference_image.contract import BATCH_STRATEGY_ENV, Env
from package import rules

MIB = rules.MIB
READ_BLOCK = 4 * MIB


class RecordTooLarge(Exception):
    def __init__(self, record_index: int, size: int, limit: int):
        self.record_index, self.size, self.limit = record_index, size, limit
        super().__init__(f"record {record_index + 1} is {size} bytes, over MaxPayloadInMB ({limit} bytes): "
                         "SageMaker fails the job on it")


@dataclass(frozen=True)
class Profile:
    """A transform job's settings after SageMaker's precedence: the job, then the container's
    /execution-parameters, then the defaults."""
    content_type: str
    accept: str | None
    split_type: str = "None"
    batch_strategy: str = "MultiRecord"
    max_payload_mb: int = rules.BATCH_DEFAULTS["MaxPayloadInMB"]
    max_concurrent: int = 1
    assemble_with: str = "None"
    timeout_s: float = rules.INVOCATION_TIMEOUT_S
    max_retries: int = rules.INVOCATION_MAX_RETRIES
    environment: dict = field(default_factory=dict)

    @property
    def max_payload_bytes(self) -> int | None:
        return self.max_payload_mb * MIB if self.max_payload_mb else None  # 0: chunked, no limit


def resolve_profile(job: dict, execution_parameters: dict | None) -> Profile:
    """`job` holds the TransformJobDefinition's values (None where unset)."""
    params = execution_parameters or {}

    def pick(key, job_value):
        if job_value not in (None, 0, ""):
            return job_value
        if params.get(key) not in (None, 0, ""):
            return params[key]
        return rules.BATCH_DEFAULTS[key]

    strategy = pick("BatchStrategy", job.get("BatchStrategy"))
    strategy = {env: api for api, env in BATCH_STRATEGY_ENV.items()}.get(strategy, strategy)
    payload = job.get("MaxPayloadInMB")
    payload = payload if payload is not None else pick("MaxPayloadInMB", None)
    return Profile(content_type=job["ContentType"], accept=job.get("Accept"), split_type=job.get("SplitType") or "None",
                   batch_strategy=strategy, max_payload_mb=int(payload),
                   max_concurrent=int(pick("MaxConcurrentTransforms", job.get("MaxConcurrentTransforms"))),
                   assemble_with=job.get("AssembleWith") or "None", environment=dict(job.get("Environment") or {}))


def job_env(job: dict) -> dict:
    """The container environment SageMaker sets for this job (only what the job itself set)."""
    env = {Env.BATCH: "true", **(job.get("Environment") or {})}
    if job.get("MaxPayloadInMB") is not None:
        env[Env.MAX_PAYLOAD_IN_MB] = str(job["MaxPayloadInMB"])
    if job.get("BatchStrategy"):
        env[Env.BATCH_STRATEGY] = BATCH_STRATEGY_ENV[job["BatchStrategy"]]
    if job.get("MaxConcurrentTransforms"):
        env[Env.MAX_CONCURRENT_TRANSFORMS] = str(job["MaxConcurrentTransforms"])
    return env


@dataclass
class MiniBatch:
    body: bytes
    records: int


def count_input_records(body: bytes, media: str) -> int | None:
    """Records in a request body as SageMaker's batch splitting counts them: lines for CSV and
    JSON Lines; for JSON, the items of an `instances` (or top-level) list, else one."""
    if media == "application/json":
        try:
            doc = json.loads(body)
        except ValueError:
            return None  # not JSON: the content matrix says so; nothing to count
        items = doc.get("instances", doc.get("inputs", doc)) if isinstance(doc, dict) else doc
        # A list of rows is many records; a flat list of numbers is one record's features.
        return len(items) if isinstance(items, list) and items and all(isinstance(i, (list, dict)) for i in items) else 1
    return sum(1 for line in body.split(b"\n") if line.strip())



def _count_records(block: bytes) -> int:
    return sum(1 for line in block.split(b"\n") if line.strip())


def mini_batches(stream, profile: Profile) -> Iterator[MiniBatch]:
    """Split a binary stream into records and pack them as SageMaker does."""
    limit = profile.max_payload_bytes
    if profile.split_type == "None":
        body = stream.read()
        if limit is not None and len(body) > limit:
            raise RecordTooLarge(0, len(body), limit)
        # One request for the whole object; in a text type, its records are what the type says
        # they are (a CSV file of 30 lines answers 30); any other object is one record.
        media = (profile.content_type or "").split(";")[0].strip()
        records = count_input_records(body, media) if media in ("text/csv", "application/json", "application/jsonlines") else 1
        yield MiniBatch(body, records or 1)
        return
    if profile.split_type != "Line":
        raise ValueError(f"SplitType {profile.split_type} is not replayed locally (Line and None are)")
    if profile.batch_strategy == "SingleRecord":
        index = 0
        for line in stream:
            if not line.strip():
                continue
            if limit is not None and len(line) > limit:
                raise RecordTooLarge(index, len(line), limit)
            yield MiniBatch(line if line.endswith(b"\n") else line + b"\n", 1)
            index += 1
        return
    yield from _multi_record(stream, limit)


def _multi_record(stream, limit: int | None) -> Iterator[MiniBatch]:
    size = limit or READ_BLOCK
    pending = b""
    seen = 0
    while True:
        chunk = stream.read(max(size - len(pending), 1))
        data = pending + chunk
        if not data:
            return
        if not chunk:  # end of file: what is left is the last mini-batch (or more, if it is over the limit)
            cut = len(data) if limit is None or len(data) <= limit else data.rfind(b"\n", 0, limit) + 1
        elif len(data) < size:
            pending = data
            continue
        else:
            cut = data.rfind(b"\n", 0, size) + 1
        if cut <= 0:
            line_end = data.find(b"\n")
            record = len(data) if line_end < 0 else line_end + 1
            raise RecordTooLarge(seen, record, limit)
        body, pending = data[:cut], data[cut:]
        records = _count_records(body)
        if records:
            yield MiniBatch(body if body.endswith(b"\n") else body + b"\n", records)
        seen += records
        if not chunk and not pending:
            return


def count_output_records(body: bytes, accept: str | None) -> int:
    media = (accept or "").split(";")[0].strip().lower()
    if media == "application/json":
        count = 0
        decoder = json.JSONDecoder()
        text, pos = body.decode(), 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            doc, pos = decoder.raw_decode(text, pos)
            items = doc.get("predictions", doc) if isinstance(doc, dict) else doc
            count += len(items) if isinstance(items, list) else 1
        return count
    return _count_records(body)


@dataclass
class FileResult:
    input: str
    output: str | None
    records_in: int = 0
    records_out: int = 0
    requests: int = 0
    retries: int = 0
    bytes_in: int = 0
    error: str | None = None


@dataclass
class BatchResult:
    profile: dict
    files: list[FileResult]
    seconds: float
    latencies_ms: list = field(default_factory=list, repr=False)

    @property
    def records(self) -> int:
        return sum(f.records_in for f in self.files)

    @property
    def ok(self) -> bool:
        return all(f.error is None for f in self.files)

    def to_dict(self) -> dict:
        lat = sorted(self.latencies_ms)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)) if lat else (lambda q: None)
        return {"profile": self.profile, "ok": self.ok, "records": self.records, "seconds": round(self.seconds, 3),
                "records_per_s": round(self.records / self.seconds, 1) if self.seconds else None,
                "requests": sum(f.requests for f in self.files), "latency_ms": {"p50": pct(0.5), "p99": pct(0.99)},
                "files": [asdict(f) for f in self.files]}


Send = Callable[[bytes, dict, float], "object"]  # (body, headers, timeout) -> Reply


def _input_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    # S3Prefix: every object under the prefix, in key order.
    return sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: p.relative_to(source).as_posix())


def replay(source: Path, output: Path, profile: Profile, send: Send, progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Run the job over a file or a folder of files; `send` talks to the running container."""
    files = _input_files(source)
    sizes = {f: f.stat().st_size for f in files}
    total_bytes = sum(sizes.values()) or 1
    done_bytes = 0
    output.mkdir(parents=True, exist_ok=True)
    headers = {"Content-Type": profile.content_type}
    if profile.accept:
        headers["Accept"] = profile.accept
    results, latencies = [], []
    started = time.monotonic()

    def call(batch: MiniBatch):
        attempts, reply = 0, None
        while attempts <= profile.max_retries:
            reply = send(batch.body, headers, profile.timeout_s)
            if reply.status is not None and 200 <= reply.status < 300:
                return reply, attempts
            attempts += 1
        return reply, attempts - 1

    with ThreadPoolExecutor(max_workers=max(profile.max_concurrent, 1)) as pool:
        for path in files:
            rel = path.name if source.is_file() else path.relative_to(source).as_posix()
            target = output / f"{rel}.out"
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            result = FileResult(input=str(path), output=None)
            in_flight: deque = deque()
            try:
                with path.open("rb") as stream, partial.open("wb") as out:
                    def drain(keep: int, in_flight=in_flight, result=result, out=out):
                        while len(in_flight) > keep:
                            batch, future = in_flight.popleft()
                            reply, retries = future.result()
                            result.retries += retries
                            if reply.status is None or not 200 <= reply.status < 300:
                                detail = reply.error or reply.body[:300].decode(errors="replace")
                                raise RuntimeError(f"a mini-batch of {batch.records} records failed after "
                                                   f"{profile.max_retries} retries: {reply.status} {detail}")
                            latencies.append(reply.elapsed * 1000)
                            out.write(reply.body)
                            if profile.assemble_with == "Line" and not reply.body.endswith(b"\n"):
                                out.write(b"\n")
                            result.records_out += count_output_records(reply.body, profile.accept)

                    for batch in mini_batches(stream, profile):
                        result.records_in += batch.records
                        result.requests += 1
                        result.bytes_in += len(batch.body)
                        in_flight.append((batch, pool.submit(call, batch)))
                        drain(profile.max_concurrent - 1)
                        if progress:
                            progress(done_bytes + min(result.bytes_in, sizes[path]), total_bytes)
                    drain(0)
                os.replace(partial, target)
                result.output = str(target)
            except (RecordTooLarge, RuntimeError, ValueError, OSError) as exc:
                for _, future in in_flight:
                    future.cancel()
                partial.unlink(missing_ok=True)
                result.error = str(exc)
            done_bytes += sizes[path]
            results.append(result)
    return BatchResult(asdict_profile(profile), results, time.monotonic() - started, latencies)


def asdict_profile(profile: Profile) -> dict:
    return {k: v for k, v in asdict(profile).items() if k != "environment"}
