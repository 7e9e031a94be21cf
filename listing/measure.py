"""`mpkit listing --measure-on-aws`: latency and throughput on the recommended instance type, as
the listing must state them (MP-REQ), measured where a buyer runs it. The published package is
deployed as a buyer deploys it (deploy.py: network isolation, the subscription check), each
sample is sent, one at a time for latency and from several threads for throughput, and what was
made is always deleted, after a failure too (its own record, `.mpkit/measure/resources.json`, so
a run killed mid-way is cleaned up by the next one, or by `mpkit teardown --record` on it)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import buyer
from .deploy import Variant, deploy

REQUESTS = 40  # per sample, for latency; as many again from the threads, for throughput
CONCURRENCY = 4


def measure(aws, *, arn: str, role: str, instance_types: list, samples: list, record_path: Path,
            requests: int = REQUESTS, concurrency: int = CONCURRENCY, say=print) -> list[dict]:
    """One row per instance type and sample: {instance_type, content_type, bytes, p50_ms, p99_ms,
    requests_per_s, concurrency}. `samples` are (body, content_type, accept)."""
    record = buyer.BuyerRecord(record_path)
    leftover = buyer.teardown(aws, record, say=say)  # what a killed run left behind
    if leftover:
        say(f"removed {len(leftover)} resource(s) an earlier measurement left")
    rows = []
    for instance_type in instance_types:
        try:
            deployed = deploy(aws, record, arn=arn, variants=[Variant(instance_type)], role=role,
                              name=f"mpkit-measure-{buyer.resource_name(arn)}"[:63].rstrip("-"), say=say)
            for body, content_type, accept in samples:
                rows.append({"instance_type": instance_type, "content_type": content_type, "bytes": len(body),
                             **_figures(aws, deployed.endpoint, body, content_type, accept, requests, concurrency)})
                say(f"{instance_type} {content_type}: p50 {rows[-1]['p50_ms']} ms, "
                    f"{rows[-1]['requests_per_s']} requests/s")
        finally:
            buyer.teardown(aws, record, say=say)
    return rows


def _figures(aws, endpoint: str, body: bytes, content_type: str, accept: str | None, requests: int,
             concurrency: int) -> dict:
    def once(_=None) -> float:
        return buyer.invoke(aws, endpoint=endpoint, body=body, content_type=content_type, accept=accept)["milliseconds"]

    once()  # the first request warms the container and the connection
    latencies = sorted(once() for _ in range(requests))
    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(once, range(requests)))
    elapsed = time.monotonic() - started
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {"p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(p99, 1),
            "requests_per_s": round(requests / elapsed, 1), "concurrency": concurrency}


def rows_markdown(rows: list[dict]) -> list[str]:
    out = ["| instance type | content type | request size | p50 latency | p99 latency | requests/s (concurrency) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['instance_type']} | {r['content_type']} | {r['bytes']} B | {r['p50_ms']:.1f} ms | "
                   f"{r['p99_ms']:.1f} ms | {r['requests_per_s']:,.1f} ({r['concurrency']}) |")
    return out
