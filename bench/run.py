"""Benchmark the example product, in one run, against the in-process limit.

(a) in process, 1 and 1,000 rows: the straightforward path of the seeds and AWS's samples
    (pandas read_csv -> the fitted featurizer's transform -> XGBoost -> JSON) against ours
    (parse, compiled featurizer, XGBoost, serialize). Both give XGBoost one thread, as each
    server worker has.
(b) the container, networking off, 1-row and 1,000-row CSV requests at concurrency 1, 4, 16.
    The load generator (`hey`) runs inside the container's own network namespace (nsenter), so
    nothing leaves loopback; every run is bounded in requests and seconds.
(c) cold start: container start to the first 200 on /ping.  (d) image size.
(e) the batch replay: `mpkit transform-local` on a 100,000-row input, rows/s against the
    container's 1,000-row requests at concurrency 4 (in rows/s), and the replay's peak memory.

The ceiling is our single-process req/s × the cores: what the container could reach if HTTP
cost nothing. Usage: python bench/run.py [--manifest manifest.yaml] [--json out.json]
Needs root (nsenter) and a built image (`mpkit build`); installs `hey` from Debian if missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORES = len(os.sched_getaffinity(0))
LOAD = {1: 4000, 1000: 400}  # requests per container run, by rows per request (hey's -z would override -n)
LOAD_SECONDS = 60  # a run that takes longer is killed


def per_second(fn, min_seconds=1.5) -> float:
    fn()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started)


def bodies(manifest) -> dict[int, bytes]:
    holdout = manifest.resolve(manifest.data["validation"]["input"]).read_bytes().splitlines(keepends=True)
    rows = (holdout * (1000 // len(holdout) + 1))[:1000]
    return {1: holdout[0], 1000: b"".join(rows)}


def in_process(manifest, model_dir: Path, payloads) -> dict:
    import joblib
    import pandas as pd
    import xgboost

    from inference_image.handler import Handler
    from inference_image.settings import Settings

    handler = Handler(Settings.load(env={"MPKIT_MODEL_DIR": str(model_dir)}, baked_path="/none"))
    featurizer = joblib.load(model_dir / "featurizer.joblib")
    booster = xgboost.Booster()
    booster.load_model(str(model_dir / "xgboost-model.ubj"))
    booster.set_param({"nthread": 1})
    names = handler.spec.names

    def straightforward(body):
        frame = pd.read_csv(io.BytesIO(body), header=None, names=names)
        return json.dumps({"predictions": booster.inplace_predict(featurizer.transform(frame)).tolist()}).encode()

    results = {}
    for rows, body in payloads.items():
        base = per_second(lambda: straightforward(body))
        ours = per_second(lambda: handler.invoke(body, "text/csv", "application/json"))
        results[rows] = {"straightforward_rps": base, "ours_rps": ours, "speedup": ours / base}
    return results


def ensure_hey() -> str:
    if not shutil.which("hey"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "hey"], check=True, capture_output=True)
    return shutil.which("hey")


def load(pid: int, body_file: str, requests: int, concurrency: int) -> dict:
    out = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "hey", "-n", str(requests), "-c", str(concurrency),
         "-m", "POST", "-T", "text/csv", "-D", body_file, "-t", "60", "http://127.0.0.1:8080/invocations"],
        capture_output=True, text=True, timeout=LOAD_SECONDS + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    p50 = re.search(r"50% in ([\d.]+) secs", out)
    p99 = re.search(r"99% in ([\d.]+) secs", out)
    return {"rps": rps, "codes": codes, "p50_ms": float(p50.group(1)) * 1000 if p50 else None,
            "p99_ms": float(p99.group(1)) * 1000 if p99 else None}


def container(engine, image: str, payloads) -> dict:
    ensure_hey()
    results = {}
    with engine.serve(image) as served, tempfile.TemporaryDirectory() as tmp:
        served.wait_ready(60)
        pid = engine.client.api.inspect_container(served.container.id)["State"]["Pid"]
        for rows, body in payloads.items():
            path = Path(tmp) / f"{rows}.csv"
            path.write_bytes(body)
            load(pid, str(path), min(200, LOAD[rows]), 4)  # warm-up
            for concurrency in (1, 4, 16):
                results[(rows, concurrency)] = load(pid, str(path), LOAD[rows], concurrency)
    return results


def batch_replay(manifest, rows: int = 100_000) -> dict:
    holdout = manifest.resolve(manifest.data["validation"]["input"]).read_bytes().splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.csv"
        source.write_bytes(b"".join((holdout * (rows // len(holdout) + 1))[:rows]))
        out = subprocess.run([sys.executable, "-c", "import sys; from package.cli import main; sys.exit(main())",
                              "transform-local", "--manifest", str(manifest.path), "--input", str(source),
                              "--output", str(Path(tmp) / "out"), "--json"], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"transform-local failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)


def cold_start(engine, image: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        with engine.serve(image) as served:
            times.append(served.wait_ready(60))
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="benchmark the example product's image")
    parser.add_argument("--manifest", default=str(ROOT / "manifest.yaml"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    from package.artifact import stage_model_dir
    from package.docker_engine import Engine
    from package.manifest import load_manifest

    manifest = load_manifest(args.manifest)
    image = manifest.image
    engine = Engine()
    if not engine.image_exists(image):
        print(f"{image} is not built: run `mpkit build` first", file=sys.stderr)
        return 2
    payloads = bodies(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = stage_model_dir(manifest, Path(tmp) / "model")
        inproc = in_process(manifest, model_dir, payloads)
    served = container(engine, image, payloads)
    start = cold_start(engine, image)
    replay = batch_replay(manifest)
    size = engine.inspect(image)["Size"]

    print(f"\n{manifest.name}: {CORES} cores; ceiling = ours in process x {CORES}\n")
    print(f"{'in process':<34}{'1 row':>14}{'1,000 rows':>14}")
    for label, key in (("straightforward (req/s)", "straightforward_rps"), ("ours (req/s)", "ours_rps"), ("speedup", "speedup")):
        print(f"  {label:<32}{inproc[1][key]:>14.1f}{inproc[1000][key]:>14.2f}")
    print(f"\n{'container, networking off':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'/ ceiling':>11}  codes")
    def of_ceiling(rows: int, concurrency: int) -> float:
        return served[(rows, concurrency)]["rps"] / (inproc[rows]["ours_rps"] * CORES)

    for (rows, concurrency), r in served.items():
        print(f"  {rows:>5} rows, concurrency {concurrency:<3}{'':>7}{r['rps']:>10.1f}{r['p50_ms'] or 0:>10.2f}"
              f"{r['p99_ms'] or 0:>10.2f}{of_ceiling(rows, concurrency):>11.2f}  {r['codes']}")
    print(f"\ncold start (container start -> first /ping 200, median of 3): {start:.2f} s")
    print(f"image size: {size / 1e6:.0f} MB")
    container_rows = served[(1000, 4)]["rps"] * 1000
    replay_ratio = replay["records_per_s"] / container_rows
    print(f"batch replay (transform-local, {replay['records']:,} rows, {replay['requests']} requests): "
          f"{replay['records_per_s']:,.0f} rows/s = {replay_ratio:.2f} x the container's 1,000-row @4 rows/s "
          f"({container_rows:,.0f}); peak memory of the replay process {replay['peak_rss_bytes'] / 1e6:.0f} MB")
    targets = [
        ("in process, 1 row, ours / straightforward >= 5", inproc[1]["speedup"], 5),
        ("in process, 1,000 rows, ours / straightforward >= 1.5", inproc[1000]["speedup"], 1.5),
        ("container 1 row @4 / ceiling >= 0.4", of_ceiling(1, 4), 0.4),
        ("container 1,000 rows @4 / ceiling >= 0.7", of_ceiling(1000, 4), 0.7),
        ("batch replay rows/s / container 1,000-row rows/s >= 0.8", replay_ratio, 0.8),
    ]
    print("\ntargets (ratios from this run):")
    for label, value, target in targets:
        print(f"  {'met ' if value >= target else 'MISS'} {label}: {value:.2f}")
    print(f"  {'met ' if start <= 3 else 'MISS'} cold start <= 3 s: {start:.2f}")
    print(f"  {'met ' if size <= 600e6 else 'MISS'} image <= 600 MB: {size / 1e6:.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "in_process": inproc, "cold_start_s": start, "batch_replay": replay, "image_bytes": size, "cores": CORES,
            "container": [{"rows": k[0], "concurrency": k[1], **v} for k, v in served.items()]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
