"""`mpkit listing`: gather what a listing is made from, write the folder, lint it, and (with
`submit`) send its change set to the Catalog API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from package.aws import Aws, Target
from package.build import build_dir, current_image
from package.docker_engine import Engine
from package.manifest import Manifest, ManifestError
from package.publish_record import PublishRecord

from .measure import measure
from .release_checks import placeholder_problems
from .sources import gather
from .submit import submit
from .writer import ListingResult, write_listing

# The Catalog API has one endpoint, in us-east-1, whatever Region the package is in (CAT).
CATALOG_REGION = "us-east-1"


@dataclass
class ListingRun:
    result: ListingResult
    record: Path
    submitted: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.ok

    def to_dict(self) -> dict:
        return {**self.result.to_dict(), "submitted": self.submitted}


def default_folder(manifest: Manifest) -> Path:
    """Where `mpkit listing` writes, and what `mpkit validate` lints once it exists."""
    return build_dir(manifest) / "listing"


def make_listing(manifest: Manifest, *, target: str = "aws", record: Path | None = None, report: Path | None = None,
                 output: Path | None = None, image: str | None = None, submit_to: Target | None = None,
                 apply: bool = False, measure_on: Target | None = None, role: str | None = None,
                 engine: Engine | None = None, say=print) -> ListingRun:
    """`target` names the publish record's folder (local, emulator, aws) unless `record` is given;
    with `submit_to` the change set is validated by the Catalog (and applied with `apply`) when the
    lint passes. Its region is always the Catalog's. With `measure_on`, the package is deployed
    there first and the description carries what was measured (measure.py)."""
    if submit_to is not None and not submit_to.endpoint_url and manifest.listing:
        problems = placeholder_problems(manifest)  # only where AWS is real
        if problems:
            raise ManifestError(problems)
    record = record or PublishRecord.path_for(manifest.root, manifest.package_name, target)
    sources = gather(manifest, record_path=record, report_path=report)
    if measure_on is not None:
        where = Target(region=sources.region, profile=measure_on.profile, endpoint_url=measure_on.endpoint_url,
                       credentials=measure_on.credentials)
        samples = [(s.file.read_bytes(), s.content_type, s.accept) for s in manifest.samples]
        rows = measure(Aws(where), arn=sources.arn, role=role or manifest.validation.role,
                       instance_types=[sources.recommended["realtime"]], samples=samples,
                       record_path=manifest.root / ".mpkit" / "measure" / "resources.json", say=say)
        sources = dataclasses.replace(sources, aws_performance=tuple(rows))
    engine = engine or Engine()
    image = current_image(manifest, engine, image, say=say)
    say(f"listing for {sources.arn} (record {record}, report {sources.report_path})")
    run = ListingRun(write_listing(sources, engine, output=output or default_folder(manifest), image=image, say=say),
                     record=record)
    if submit_to is not None and run.ok:
        catalog = Target(region=CATALOG_REGION, profile=submit_to.profile, endpoint_url=submit_to.endpoint_url)
        run.submitted = submit(Aws(catalog), run.result.changeset_request, apply=apply, say=say)
    return run
