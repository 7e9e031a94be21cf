"""The usage instructions (the Catalog's UsageInstructions, at most 10,000 characters): input,
output, limits, and how to call the model in real time and in batch. Examples are excerpts of the
real samples and of the image's real answers to them."""

from __future__ import annotations

from pathlib import Path

from inference_image.contract import MIB
from package import rules

from .samples import SampleFile

USAGE = "USAGE.md"

INPUT_FORMATS = {
    "text/csv": "one record per line, no header, the features in the order of the table; an empty field is a "
                "missing value (allowed for features that are not required); `text/csv; charset=utf-8` is accepted",
    "application/json": '`{"instances": [[...], ...]}` (rows in the order of the table), '
                        '`{"instances": [{"feature": value, ...}, ...]}` (by name), or a bare list of rows',
    "application/jsonlines": "one JSON array (in the order of the table) or one JSON object (by name) per line",
}


def feature_rows(features) -> list[str]:
    rows = ["| # | feature | type | unit | values | required | meaning |", "|---|---|---|---|---|---|---|"]
    for i, f in enumerate(features, 1):
        if f.categories:
            values = " / ".join(map(str, f.categories)) + (" (others passed to the model)" if f.allow_unknown
                                                          else " (no other value)")
        elif f.range:
            values = f"{f.range[0]} to {f.range[1]} in training"
        else:
            values = "any"
        rows.append(f"| {i} | `{f.name}` | {f.type} | {f.unit or ''} | {values} | "
                    f"{'yes' if f.required else 'no'} | {f.description or ''} |")
    return rows


def classifier_shapes(model) -> str:
    """The one response shape of each type for a classifier (the image's codecs write them)."""
    classes = f" ({', '.join(f'`{c}`' for c in model.classes)})" if model.classes else " (the model's own)"
    fields = {"labels": '`{"label": L}`', "probabilities": '`{"probabilities": {CLASS: P, ...}}`',
              "both": '`{"label": L, "probabilities": {CLASS: P, ...}}`'}[model.answer]
    csv_columns = {"labels": "the label", "probabilities": "one probability per class, in class order",
                   "both": "the label, then one probability per class, in class order"}[model.answer]
    return (f"A classifier: each answer is {fields}, class names{classes}. JSON: `{{\"predictions\": [answer, ...]}}`; "
            f"JSON Lines: one answer per line, the same fields; CSV: {csv_columns}.")


def excerpt(path: Path, lines: int = 3, chars: int = 400) -> str:
    text = path.read_text(errors="replace")
    head = "\n".join(text.splitlines()[:lines])
    return head[:chars] + ("\n..." if len(text) > len(head) else "")


def rows_per_request(samples: list[SampleFile], folder: Path, limit_bytes: int) -> int | None:
    """About how many CSV records fit in one request, from the CSV sample's mean record size."""
    for s in samples:
        if s.content_type == "text/csv":
            lines = [line for line in (folder / s.input).read_bytes().splitlines() if line.strip()]
            if lines:
                return int(limit_bytes / (sum(len(line) + 1 for line in lines) / len(lines)))
    return None


def render(*, manifest, samples: list[SampleFile], folder: Path, batch_job: dict, arn: str) -> str:
    model, serving = manifest.model, manifest.serving
    features = model.features
    realtime_limit = min(serving.max_payload_bytes, rules.REALTIME_PAYLOAD_BYTES.value)
    batch_mb = batch_job.get("MaxPayloadInMB") or rules.BATCH_DEFAULTS["MaxPayloadInMB"]
    per_request = rows_per_request(samples, folder, int(realtime_limit))
    default_accept = serving.default_accept
    realtime = [s for s in samples if s.kind == "realtime"]
    batch = next(s for s in samples if s.kind == "batch")

    parts = [f"# {manifest.name} {manifest.version}: how to use it", "",
             manifest.description, "",
             "## Input", "",
             f"Content types: {', '.join(f'`{c}`' for c in serving.content_types)}. "
             f"Each record has {len(features)} features:" if features else
             f"Content types: {', '.join(f'`{c}`' for c in serving.content_types)}.", ""]
    if features:
        parts += feature_rows(features) + ["", "Numbers are ASCII digits with an optional sign, decimal point and exponent, and "
                                           "finite (no `inf`, `NaN`, `1_000`). Ranges are the training data's: informative, "
                                           "not enforced; answers outside them are extrapolated.", ""]
    for media in serving.content_types:
        parts.append(f"- `{media}`: {INPUT_FORMATS.get(media, 'as the samples show')}")
    parts += ["", "## Output", "",
              f"Accept types: {', '.join(f'`{a}`' for a in serving.accept_types)} (default `{default_accept}`, "
              "also for `*/*` or no Accept). One answer per input record, in the input's order"
              + (f": `{model.output_name}`, {model.output_description or ''}." if model.output_name else "."), ""]
    if model.classifier:
        parts += [classifier_shapes(model), ""]
    for s in realtime:
        parts += [f"`{s.content_type}` in, `{s.accept}` out (`{s.input}` -> `{s.output}`):", "```",
                  excerpt(folder / s.output), "```", ""]
    parts += ["## Limits", "",
              f"- Real-time: at most {realtime_limit / MIB:.0f} MiB ({int(realtime_limit):,} bytes) per request"
              + (f" (about {per_request:,} CSV records)" if per_request else "")
              + f"; each request must finish within {rules.REALTIME_TIME_S.value:.0f} s.",
              f"- Batch transform: mini-batches of at most {batch_mb} MB (`MaxPayloadInMB`), up to "
              f"{rules.BATCH_PAYLOAD_MB.value:.0f} MB; one `.out` file per input file.",
              "- Errors are answered with a 4xx status and a JSON body that names the problem and, where it can, the "
              "row and column: 400 malformed input, wrong number of features, a value that is not a finite number, "
              "a JSON value of another type than declared, or a category outside the listed ones; 406 unsupported Accept, 413 payload "
              "too large, 415 unsupported Content-Type. A 4xx is not a successful inference.",
              "- The model runs with no network access and needs no environment variables.", "",
              "## Real-time inference", "",
              "Create a model from the model package with network isolation, deploy an endpoint, then:", "",
              "```sh", f"aws sagemaker-runtime invoke-endpoint --endpoint-name ENDPOINT --content-type {realtime[0].content_type} "
              f"--accept {realtime[0].accept} --body fileb://{realtime[0].input} out.{realtime[0].output.rsplit('.', 1)[-1]}",
              "```", "",
              "## Batch transform", "",
              f"Put input files under an S3 prefix and run a transform job with `ContentType` `{batch.content_type}`, "
              f"`SplitType` `{batch_job.get('SplitType') or 'None'}`, `BatchStrategy` "
              f"`{batch_job.get('BatchStrategy') or 'MultiRecord'}`, `Accept` `{batch.accept}`, `AssembleWith` "
              f"`{batch_job.get('AssembleWith') or 'None'}`. Sample: `{batch.input}` -> `{batch.output}`:", "",
              "```", excerpt(folder / batch.output), "```", "",
              "Complete examples: `examples/aws-cli.sh`, `examples/boto3_example.py`, and the notebook "
              "`buyer-notebook.ipynb`, which deploys, invokes, runs a batch job and cleans up with the bundled samples.",
              "", f"Model package in the published Region: `{arn}`", ""]
    return "\n".join(parts)
