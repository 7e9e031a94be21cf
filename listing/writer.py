"""`mpkit listing`: the listing folder, from the manifest, the validation report, the publish
record and the image's own answers; then the lint over what was written."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from package.report import Check

from . import buyer_code, changeset, description, examples, lint, notebook, usage
from .samples import SampleFile, write_samples
from .sources import Sources


@dataclass
class ListingResult:
    folder: Path
    files: list[str]
    checks: list[Check] = field(default_factory=list)
    changeset_request: dict = field(default_factory=dict)
    arn: str = ""

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "files": self.files, "arn": self.arn, "ok": self.ok,
                "checks": [c.to_dict() for c in self.checks]}


def file_urls(repository_url: str, paths: list[str]) -> dict:
    """Each file's public address under the repository folder; GitHub shows files under /blob/."""
    base = repository_url.rstrip("/").replace("/tree/", "/blob/", 1)
    return {p: f"{base}/{p}" for p in paths}


def write_listing(sources: Sources, engine, *, output: Path, image: str, say=print) -> ListingResult:
    output.mkdir(parents=True, exist_ok=True)
    for stale in ("samples", "examples"):
        shutil.rmtree(output / stale, ignore_errors=True)
    samples = write_samples(sources.manifest, engine, image, output, say=say)
    return write_documents(sources, samples, output)


def write_documents(sources: Sources, samples: list[SampleFile], output: Path) -> ListingResult:
    """Everything but the samples, which are already in `output`; then the lint."""
    manifest = sources.manifest
    job = manifest.validation.job_definition()

    parameters = buyer_code.parameters(package_name=manifest.package_name, arns=sources.arns,
                                                recommended=sources.recommended, samples=samples, batch_job=job)
    texts = {
        usage.USAGE: usage.render(manifest=manifest, samples=samples, folder=output, batch_job=job, arn=sources.arn),
        description.DESCRIPTION: description.render(sources),
        examples.CLI: examples.cli_script(package_name=manifest.package_name, arn=sources.arn, region=sources.region,
                                          recommended=sources.recommended, samples=samples, batch_job=job),
        examples.BOTO3: examples.boto3_script(parameters),
    }
    for name, text in texts.items():
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_text(text)
    (output / examples.CLI).chmod(0o755)
    book = notebook.build(title=f"{manifest.name} {manifest.version} on Amazon SageMaker",
                          description=manifest.description, arns=sources.arns,
                          parameters=parameters, recommended=sources.recommended)
    notebook.write(book, output / notebook.NOTEBOOK)

    sample_paths = [p for s in samples for p in (s.input, s.output)]
    urls = file_urls(sources.listing.repository_url, [*sample_paths, notebook.NOTEBOOK])
    urls["notebook"] = urls[notebook.NOTEBOOK]
    sample_texts = {p: (output / p).read_text(errors="replace") for p in sample_paths}
    document = changeset.details(sources=sources, usage=texts[usage.USAGE], urls=urls, samples=samples, texts=sample_texts)
    request = changeset.request(document, product_id=sources.listing.product_id,
                                name=f"{manifest.package_name} listing")
    (output / changeset.CHANGESET).write_text(json.dumps(request, indent=1) + "\n")

    index = {
        "product": manifest.name, "version": manifest.version, "package_arn": sources.arn, "region": sources.region,
        "model_package_arns": sources.arns, "report": str(sources.report_path),
        "metric": {k: sources.metrics[k] for k in ("name", "value", "holdout_rows")},
        "recommended_instance_types": sources.recommended,
        # seconds to the first /ping 200 as `validate` measured it; `mpkit deploy --listing` checks its timeout against it
        "startup_s": next((c.get("measured") for c in sources.report.get("checks") or [] if c.get("id") == "startup"), None),
        "items": {
            "usage": usage.USAGE, "description": description.DESCRIPTION, "notebook": notebook.NOTEBOOK,
            "example": [examples.CLI, examples.BOTO3], "changeset": changeset.CHANGESET,
            "realtime_input": [s.input for s in samples if s.kind == "realtime"],
            "realtime_output": [s.output for s in samples if s.kind == "realtime"],
            "batch_input": [s.input for s in samples if s.kind == "batch"],
            "batch_output": [s.output for s in samples if s.kind == "batch"],
        },
        "samples": [s.to_dict() for s in samples],
    }
    (output / lint.INDEX).write_text(json.dumps(index, indent=1) + "\n")
    files = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    return ListingResult(folder=output, files=files, checks=lint.lint(output), changeset_request=request, arn=sources.arn)
