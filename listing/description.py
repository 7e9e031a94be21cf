"""The product description a buyer reads first (MP-REQ): what the model does and for what, its
training data and known limitations, the validation metric, and latency and throughput as
measured by `mpkit validate`, labelled with the machine they were measured on."""

from __future__ import annotations

from validation.container_checks import instance_vcpus

from .measure import rows_markdown

DESCRIPTION = "DESCRIPTION.md"


def performance_rows(performance: list[dict]) -> list[str]:
    rows = ["| records per request | request size | concurrent requests | p50 latency | p99 latency | requests/s | records/s |",
            "|---|---|---|---|---|---|---|"]
    for p in performance:
        rows.append(f"| {p['rows']:,} | {_size(p['bytes'])} | {p['concurrency']} | {p['p50_ms']:.1f} ms | "
                    f"{p['p99_ms']:.1f} ms | {p['requests_per_s']:,.0f} | {p['requests_per_s'] * p['rows']:,.0f} |")
    return rows


def machine_label(machine: dict) -> str:
    return f"{machine.get('cpus', '?')} CPUs ({machine.get('processor', '?')}, {machine.get('system', '?')})"


def framework_label(model) -> str:
    """As the image loads it: a predictor saved by XGBoost (.json/.ubj/.bin/.model) or a joblib estimator."""
    if model.framework != "pipeline":
        return {"xgboost": "XGBoost", "sklearn": "scikit-learn", "custom": "custom handler",
                "external": "the seller's own serving image"}[model.framework]
    predictor = str(model.files.get("predictor", ""))
    xgboost = predictor.endswith((".json", ".ubj", ".bin", ".model"))
    return f"scikit-learn featurizer + {'XGBoost' if xgboost else 'scikit-learn'} predictor"


def render(sources) -> str:
    manifest, listing, metrics = sources.manifest, sources.listing, sources.metrics
    training = manifest.model.training
    report = sources.report
    machine = report.get("machine") or {}
    recommended = sources.recommended
    vcpus = instance_vcpus(recommended["realtime"])
    framework = framework_label(manifest.model)
    parts = [f"# {manifest.name} {manifest.version}", "", manifest.description, "",
             "## Use cases", "", *(f"- {u}" for u in listing.use_cases), "",
             "## Training data", "", (training.data or "").strip() or "Not described by the seller.", "",
             "## Known limitations", "", listing.limitations.strip(), "",
             "## Validation metric", "",
             f"{metrics['name']} = **{metrics['value']}** on {metrics['holdout_rows']} held-out records"
             + (f" (model trained on {metrics['train_rows']} records)" if metrics.get("train_rows") else "")
             + ", measured by the training script"
             + (f" `{training.script}`" if training.script else "") + ".", "",
             "## Latency and throughput", "",
             f"Measured by `mpkit validate` on {machine_label(machine)}: the image run with networking off, "
             "requests sent from inside its network namespace, CSV bodies.", "",
             *performance_rows(report["performance"]), "",
             *_aws_section(sources),
             f"Recommended instance types: real-time `{recommended['realtime']}`"
             + (f" ({vcpus} vCPUs)" if vcpus else "") + f", batch transform `{recommended['batch']}`. "
             f"Supported: real-time {', '.join(manifest.instance_types.realtime)}; batch "
             f"{', '.join(manifest.instance_types.batch)}. The notebook prints each request's latency on "
             "the endpoint it deploys.", "",
             f"Framework: {framework}. Runs with no network access.", ""]
    return "\n".join(parts)


def _aws_section(sources) -> list[str]:
    if not sources.aws_performance:
        return []
    types = sorted({r["instance_type"] for r in sources.aws_performance})
    return [f"Measured on Amazon SageMaker in {sources.region} by `mpkit listing --measure-on-aws`: the published "
            f"package deployed as a buyer deploys it on {', '.join(types)}, the samples sent with InvokeEndpoint; "
            "the latencies include the network between the caller and SageMaker.", "",
            *rows_markdown(list(sources.aws_performance)), ""]


def _size(n: int) -> str:
    return f"{n} B" if n < 1000 else (f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB")
