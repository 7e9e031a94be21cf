"""What a listing is made from: the manifest, the validation report (measured performance), the
publish record (the package ARN and its Region) and the training metric. Read once, here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from package.errors import ConfigurationError
from package.manifest import Listing, Manifest
from package.publish_record import PublishRecord

ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/(.+)$")


@dataclass(frozen=True)
class Sources:
    manifest: Manifest
    listing: Listing  # the manifest's `listing:` section
    report: dict  # validation.json
    report_path: Path
    metrics: dict  # the training script's metrics.json
    arn: str  # the published package
    region: str
    arns: dict = field(default_factory=dict)  # Region -> ARN, the published one included
    aws_performance: tuple = ()  # `--measure-on-aws`: rows measured on SageMaker (measure.py)

    @property
    def recommended(self) -> dict:
        types = self.manifest.instance_types
        return {"realtime": self.listing.recommended_realtime or types.realtime[0],
                "batch": self.listing.recommended_batch or types.batch[0]}


def gather(manifest: Manifest, *, record_path: Path, report_path: Path | None = None) -> Sources:
    listing = manifest.listing
    if not listing:
        raise ConfigurationError(f"{manifest.where()}: the manifest has no `listing:` section",
                                 hint="add listing.use_cases, listing.limitations, listing.repository_url and "
                                      "listing.access_role_arn (see the example manifest.yaml)")
    if not record_path.is_file():
        raise ConfigurationError(f"{record_path}: no publish record, so no model package ARN to list",
                                 hint="run `mpkit publish` first (or pass --record)")
    record = PublishRecord.load(record_path, persist=False)
    arn = record.package.arn
    if not arn:
        raise ConfigurationError(f"{record_path}: the record has no model package yet",
                                 hint="run `mpkit publish` again; it carries on where it stopped")
    region = ARN_PATTERN.match(arn).group(1)

    if report_path is None:
        recorded = record.validation.report
        report_path = Path(recorded) if recorded else Path("reports/validation.json")
    if not report_path.is_file():
        raise ConfigurationError(f"{report_path}: no validation report, so no measured latency and throughput",
                                 hint="run `mpkit validate` (or `mpkit publish`, which runs it), or pass --report")
    report = json.loads(report_path.read_text())
    if (report.get("subject") or {}).get("name") != manifest.name or report["subject"].get("version") != manifest.version:
        raise ConfigurationError(f"{report_path}: the report is for {report['subject'].get('name')} "
                                 f"{report['subject'].get('version')}, not {manifest.name} {manifest.version}",
                                 hint="run `mpkit validate` for this manifest")
    if not report.get("performance"):
        raise ConfigurationError(f"{report_path}: the report has no performance measurements",
                                 hint="run `mpkit validate` to the end: the container checks measure latency and throughput")

    training = manifest.model.training
    if not training.metrics:
        raise ConfigurationError(f"{manifest.where('model', 'training')}: model.training.metrics is not set",
                                 hint="point it at the JSON your training script writes: {name, value, holdout_rows}")
    metrics = json.loads(manifest.require_file("model", "training", "metrics").read_text())
    missing = [k for k in ("name", "value", "holdout_rows") if k not in metrics]
    if missing:
        raise ConfigurationError(f"{training.metrics}: the metric file lacks {', '.join(missing)}",
                                 hint="write {\"name\": ..., \"value\": ..., \"holdout_rows\": ...} from the training script")

    arns = dict(listing.model_package_arns)
    for other_region, other in arns.items():
        match = ARN_PATTERN.match(other)
        if not match or match.group(1) != other_region:
            raise ConfigurationError(f"{manifest.where('listing', 'model_package_arns', other_region)}: "
                                     f"listing.model_package_arns.{other_region}: {other!r} is not a model package ARN "
                                     f"in {other_region}")
    arns[region] = arn
    return Sources(manifest=manifest, listing=listing, report=report, report_path=report_path, metrics=metrics,
                   arn=arn, region=region, arns=dict(sorted(arns.items())))
