"""`mpkit`, the command line: each command parses its options, calls one library function, and
prints the result as text or, with --json, as one JSON document on stdout (progress on stderr)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import EXIT_CODES_HELP, INTERNAL_ERROR, INTERRUPTED, ConfigurationError, MpkitError
from .manifest import ManifestError, load_manifest


def _say(args):
    stream = sys.stderr if args.json else sys.stdout

    def say(message: str) -> None:
        print(message, file=stream, flush=True)

    return say


def cmd_init(args) -> int:
    from .scaffold import init

    written = init(Path(args.dir), args.model, name=args.name, force=args.force)
    if args.json:
        print(json.dumps({"written": [str(p) for p in written]}, indent=1))
    else:
        for path in written:
            print(f"wrote {path}")
        print("next: replace the REPLACE lines (samples, validation input, role), then `mpkit validate`")
    return 0


def cmd_build(args) -> int:
    from .build import build

    manifest = load_manifest(args.manifest)
    manifest.require_declared_files(skip=(("samples",), ("validation", "input")))  # the image needs neither
    result = build(manifest, base_image=args.base_image, say=_say(args))
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(f"image: {result.image} ({result.image_id[:19]}, {result.size_bytes / 1e6:.0f} MB, {result.architecture})")
        if result.model_tar:
            print(f"model: {result.model_tar} sha256 {result.model_sha256}")
    return 0


def cmd_predict(args) -> int:
    from .predict import predict, requests_for

    env = {}
    for item in args.env:
        if "=" not in item:
            raise ConfigurationError(f"--env {item}: give KEY=VALUE")
        key, value = item.split("=", 1)
        env[key] = value
    manifest = load_manifest(args.manifest)
    manifest.require_declared_files(skip=(("validation", "input"),) + ((("samples",),) if args.file else ()))
    requests = requests_for(manifest, args.file, args.content_type, args.accept)
    result = predict(manifest, requests, image=args.image, env=env, keep=args.keep, say=_say(args))
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        for a in result.answers:
            print(f"\n== {a.file}  ({a.content_type} -> {a.accept or 'default'}): "
                  f"{a.status} {a.response_content_type}  {a.latency_ms} ms")
            print(a.body.rstrip() if a.body is not None else a.error)
            if a.log:
                print("-- the container's log for this request:")
                print("\n".join("   " + line for line in a.log.splitlines()))
    return 1 if result.failed else 0


def cmd_validate(args) -> int:
    from listing.lint import lint
    from listing.runner import default_folder
    from validation.runner import validate
    from validation.static_checks import manifest_errors

    from .docker_engine import Engine

    manifest = load_manifest(args.manifest)
    manifest.require_declared_files()  # a missing file is named before the engine is even asked
    problems = manifest_errors(manifest)
    if problems:
        raise ManifestError(problems)
    archive = Path(args.model_archive) if args.model_archive else None
    if archive and not archive.is_file():
        raise ConfigurationError(f"{archive}: no such model archive")
    listing = Path(args.listing) if args.listing else None
    if listing is None:
        written = default_folder(manifest)  # `mpkit listing`'s folder, linted once it exists
        listing = written if written.is_dir() else None
    elif not listing.is_dir():
        raise ConfigurationError(f"--listing {listing}: no such folder", hint="write it with `mpkit listing --output DIR`")
    extra = [(f"the listing folder {listing}", lambda: lint(listing))] if listing else []
    report_dir = Path(args.report_dir)
    report = validate(manifest, Engine(), image=args.image, model_archive=archive, output=report_dir,
                      startup_timeout=args.startup_timeout, extra_checks=extra, say=_say(args))
    paths = report.write(report_dir)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        print(report.table())
        print(f"reports: {paths['json']}, {paths['junit']}, {paths['table']}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from .report import annotations

        for line in annotations(report.checks, str(manifest.path)):
            print(line, file=sys.stderr)  # the runner reads workflow commands from either stream
    return 1 if report.failed else 0


def cmd_transform_local(args) -> int:
    from validation.transform import transform_local

    from .progress import Progress

    manifest = load_manifest(args.manifest)
    manifest.require_declared_files(skip=(("samples",),) + ((("validation", "input"),) if args.input else ()))
    overrides = {"ContentType": args.content_type, "Accept": args.accept, "SplitType": args.split_type,
                 "BatchStrategy": args.batch_strategy, "MaxPayloadInMB": args.max_payload_mb,
                 "MaxConcurrentTransforms": args.max_concurrent_transforms, "AssembleWith": args.assemble_with}
    with Progress("transform") as progress:
        run = transform_local(manifest, output=Path(args.output), source=Path(args.input) if args.input else None,
                              image=args.image, overrides=overrides, say=_say(args),
                              progress=None if args.json else progress)
    data = run.to_dict()
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        for f in run.result.files:
            status = f"-> {f.output}" if f.error is None else f"FAILED: {f.error}"
            print(f"{f.input}: {f.records_in} records in, {f.records_out} out, {f.requests} requests {status}")
        print(f"{run.result.records} records in {run.result.seconds:.2f} s ({data['records_per_s']} records/s); "
              f"peak memory of this process {run.peak_rss_bytes / 1e6:.0f} MB")
    return 0 if run.ok else 1


def _target_name(args, target=None) -> str:
    """The publish record's folder for this run's target."""
    if args.local:
        return "local"
    return "emulator" if (target.endpoint_url if target else args.endpoint_url) else "aws"


def _target(args, manifest):
    """The Target of --local / --endpoint-url / real AWS, as a context manager."""
    import contextlib

    from .aws import Target
    from .local_target import LocalTarget

    region = args.region or manifest.publish.region
    if args.local:
        return LocalTarget(manifest.root / ".mpkit" / "local", region=region, say=_say(args))
    return contextlib.nullcontext(Target(region=region, profile=args.profile, endpoint_url=args.endpoint_url,
                                         registry=getattr(args, "registry", None),
                                         local=bool(getattr(args, "registry", None))))


def cmd_publish(args) -> int:
    from .aws import Aws
    from .docker_engine import Engine
    from .local_target import LocalMode
    from .preflight import require_publishable
    from .publish_modes import AwsMode, DryRun
    from .publish_record import PublishRecord
    from .publisher import Publisher

    manifest = load_manifest(args.manifest)
    manifest.require_declared_files()
    require_publishable(manifest)  # before the local target starts or AWS is asked
    with _target(args, manifest) as target:
        mode = LocalMode() if target.local else AwsMode()
        if args.dry_run:
            mode = DryRun(mode)
        path = Path(args.record) if args.record else PublishRecord.path_for(
            manifest.root, manifest.package_name, _target_name(args, target))
        record = PublishRecord.load(path, persist=not args.dry_run)
        publisher = Publisher(manifest, Aws(target), Engine(), record, report_dir=Path(args.report_dir), mode=mode,
                              validate=not args.skip_validate, wait=not args.no_wait, wait_timeout=args.wait_timeout,
                              show_progress=not args.json, say=_say(args))
        args.partial = publisher.result  # what a failure's --json document reports as done
        result = publisher.run()
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
        return 0
    print(f"\n{result.package_name} on {result.target}:")
    print(result.table())
    if result.dry_run:
        print("\ndry run: nothing was changed. The CreateModelPackage request:")
        print(json.dumps(result.request, indent=1))
        return 0
    if result.nothing_to_do:
        print("nothing to do: the package exists with these exact inputs")
    print(f"package: {result.arn}")
    print(f"status:  {result.status}")
    if result.local_note:
        print(f"         ({result.local_note})")
    print(f"record:  {result.record} ({result.seconds:.1f} s)")
    return 0


def cmd_status(args) -> int:
    from . import model_package as mp
    from .aws import Aws
    from .publisher import describe, wait_for

    manifest = load_manifest(args.manifest)
    name = args.name or manifest.package_name
    with _target(args, manifest) as target:
        aws = Aws(target)
        if args.wait:
            described = wait_for(aws, name, timeout=args.wait_timeout, say=_say(args))
        else:
            described = describe(aws, name)
            if described is None:
                raise ConfigurationError(f"no model package named {name} in {aws.region}",
                                         hint="publish it first, or check --region and the account")
    lines = mp.status_lines(described)
    if args.json:
        print(json.dumps({"name": name, "arn": described.get("ModelPackageArn"),
                          "status": described.get("ModelPackageStatus"),
                          "details": described.get("ModelPackageStatusDetails"), "lines": lines}, indent=1, default=str))
    else:
        print("\n".join(lines))
        if described.get("ModelPackageStatus") == "Failed":
            print(f"  fix: {mp.failure_help(described, aws.region)}")
    return {"Failed": 8}.get(described.get("ModelPackageStatus"), 0)


def cmd_listing(args) -> int:
    from listing.runner import make_listing

    from .aws import Target
    from .report import failure_lines

    manifest = load_manifest(args.manifest)
    submit_to = Target(profile=args.profile, endpoint_url=args.endpoint_url) if args.submit else None
    measure_on = Target(profile=args.profile, endpoint_url=args.endpoint_url) if args.measure_on_aws else None
    run = make_listing(manifest, target=_target_name(args), record=Path(args.record) if args.record else None,
                       report=Path(args.report) if args.report else None,
                       output=Path(args.output) if args.output else None, image=args.image, submit_to=submit_to,
                       apply=args.apply, measure_on=measure_on, role=args.role, say=_say(args))
    result = run.result
    if args.json:
        print(json.dumps(run.to_dict(), indent=1, default=str))
    else:
        print(f"\nlisting folder: {result.folder}")
        for name in result.files:
            print(f"  {name}")
        for line in failure_lines(result.checks):
            print(line)
        passed = sum(c.status == "pass" for c in result.checks)
        print(f"lint: {passed} of {len(result.checks)} checks pass")
        for submitted in run.submitted:
            print(f"change set {submitted['id']} ({submitted['intent']}): {submitted['status']}")
        if args.submit and not args.apply and run.submitted:
            print("validated only; nothing changed in AWS Marketplace. Add --apply to apply it.")
    if not run.ok:
        if args.submit:
            print("not submitted: the lint failed", file=sys.stderr)
        return 9
    return 0


def cmd_release(args) -> int:
    from listing.release import release

    from .aws import Aws, Target
    from .docker_engine import Engine
    from .local_target import LocalMode
    from .publish_modes import AwsMode
    from .publish_record import PublishRecord
    from .publisher import Publisher

    manifest = load_manifest(args.manifest)
    name = _target_name(args)
    say = _say(args)

    def run(aws, credentials=None, local=False):
        catalog_url = args.catalog_endpoint_url or (None if local else args.endpoint_url)
        catalog = None if local and not catalog_url else Aws(Target(region="us-east-1", profile=args.profile,
                                                                     endpoint_url=catalog_url, credentials=credentials))

        def publish():
            from .preflight import require_publishable

            require_publishable(manifest)
            record = PublishRecord.load(Path(args.record) if args.record else
                                        PublishRecord.path_for(manifest.root, manifest.package_name, name))
            Publisher(manifest, aws, Engine(), record, report_dir=Path(args.report_dir),
                      mode=LocalMode() if local else AwsMode(), wait_timeout=args.wait_timeout,
                      show_progress=not args.json, say=say).run()
            return record

        return release(manifest, target=name, aws=aws, catalog_aws=catalog, dry_run=args.dry_run, apply=args.apply,
                       restrict=args.restrict, create_access_role=args.create_access_role, publish=publish,
                       listing_folder=Path(args.listing) if args.listing else None,
                       record_path=Path(args.record) if args.record else None, wait_timeout=args.wait_timeout, say=say)

    if args.dry_run:  # no target is started and nothing that changes anything is called
        aws = None
        if not args.local:
            try:
                aws = Aws(Target(region=args.region or manifest.publish.region, profile=args.profile,
                                 endpoint_url=args.endpoint_url))
            except ConfigurationError as exc:  # no Region configured: the plan says what it assumed
                say(f"(dry run) {exc}; planning without AWS")
        result = run(aws, local=args.local)
    else:
        with _target(args, manifest) as target:
            result = run(Aws(target), credentials=target.credentials, local=target.local)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
        return 0
    state = "dry run: nothing was sent" if result.dry_run else (
        "applied" if result.apply else "validated by AWS Marketplace; nothing changed (add --apply to apply)")
    print(f"\nrelease of {result.product} {result.version} ({name} target): {state}")
    print(f"  package: {result.package_arn}")
    if result.product_id:
        print(f"  product: {result.product_id}, offer: {result.offer_id or '(none yet)'}")
    print(result.table())
    for sent in result.sent:
        print(f"  sent {sent['key']} ({sent['intent']}): change set {sent['id']} {sent['status']}")
    for note in result.notes:
        print(f"  note: {note}")
    if result.problems:
        print("a real release refuses these (exit 2):")
        for problem in result.problems:
            print(f"  {problem}")
    if result.apply and result.product_id and not manifest.listing.product_id:
        print(f"set listing.product_id: {result.product_id} in the manifest, so a run without this record finds it")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mpkit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


DESCRIPTION = """mpkit takes a trained model onto AWS Marketplace as a SageMaker model package, and
deploys a subscribed one.

seller, on a laptop:
  mpkit init --model model.json        a commented manifest.yaml and a CI workflow for the model
  mpkit build                          the model artifact and the network-isolated inference image
  mpkit predict                        the image run as SageMaker runs it, answering the samples
  mpkit validate                       every Marketplace and SageMaker rule, checked locally
  mpkit publish --local                the whole publish against an AWS emulator on this machine

seller, from CI (the workflow `mpkit init` writes):
  mpkit publish --no-wait              build, validate, push by digest, upload, CreateModelPackage
  mpkit status --wait                  SageMaker's validation of the package, item by item
  mpkit listing                        the listing folder and its change set for the Catalog API
  mpkit release --apply                the product, its offer and pricing, this version: on Marketplace

buyer, from a product ID:
  mpkit subscribe PRODUCT_ID --accept  the offer's terms as a quote, then the subscription
  mpkit resolve PRODUCT_ID             the package ARN for this Region
  mpkit deploy / invoke / transform / teardown

`mpkit COMMAND --help` shows each command's options and an example."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpkit", description=DESCRIPTION, epilog=EXIT_CODES_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mpkit {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, func, example, manifest=True):
        c = sub.add_parser(name, help=help_text, description=help_text,
                           epilog="example:\n  " + example.strip().replace("\n", "\n  ") + "\n\n" + EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if manifest:
            c.add_argument("--manifest", default="manifest.yaml", help="the product's manifest (default: manifest.yaml)")
        c.add_argument("--json", action="store_true", help="print one JSON document on stdout (on failure too: "
                       "{\"error\": {...}})")
        c.add_argument("--progress", choices=progress_modes(), default="auto",
                       help="progress of long steps: auto (redrawn on a terminal, one line per 10%% elsewhere), tty, "
                            "plain, none (default: auto; none with --json)")
        c.set_defaults(func=func)
        return c

    ini = command("init", "start a product folder for a model file: a commented manifest.yaml (framework, features and "
                  "runtime read from the model) and a CI workflow", cmd_init,
                  "mpkit init --model model.json --dir my-product --name churn-predictor", manifest=False)
    ini.add_argument("--model", action="append", default=[], metavar="FILE",
                     help="the model file (an XGBoost .json/.ubj or a pickled scikit-learn estimator); twice for a "
                          "featurizer and a predictor")
    ini.add_argument("--dir", default=".", help="the product folder (default: the current one)")
    ini.add_argument("--name", help="the product's name (default: the folder's)")
    ini.add_argument("--force", action="store_true", help="replace an existing manifest.yaml")

    b = command("build", "build the model artifact and the inference image (networking off)", cmd_build,
                "mpkit build --manifest manifest.yaml")
    b.add_argument("--base-image", default="python:3.11-slim",
                   help="base image (default python:3.11-slim; made locally from Debian packages when it cannot be pulled)")

    pr = command("predict", "run the image as SageMaker does (networking off) and print its answers", cmd_predict,
                 "mpkit predict                                     # the manifest's samples\n"
                 "mpkit predict --file rows.csv --content-type text/csv --accept application/json --keep")
    pr.add_argument("--file", action="append", default=[], help="a request body; repeatable (default: the manifest's samples)")
    pr.add_argument("--content-type", help="Content-Type of --file")
    pr.add_argument("--accept", help="Accept header (default: the sample's, else the image's default)")
    pr.add_argument("--image", help="image to run (default: mpkit/NAME:VERSION from the manifest)")
    pr.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="container environment; repeatable")
    pr.add_argument("--keep", action="store_true", help="leave the container running afterwards, for `docker logs` "
                    "and `docker exec` (printed: its name and how to remove it)")

    v = command("validate", "check the product against every Marketplace and SageMaker rule, locally", cmd_validate,
                "mpkit validate --report-dir reports               # reports/validation.{txt,json,junit.xml}")
    v.add_argument("--image", help="image to check (default: mpkit/NAME:VERSION, built when missing)")
    v.add_argument("--model-archive", help="check this model.tar.gz instead of the one `mpkit build` packed")
    v.add_argument("--report-dir", default="reports", help="where validation.json, validation.junit.xml and "
                   "validation.txt go, with the batch output (default: reports)")
    v.add_argument("--listing", help="also lint this listing folder (default: build/NAME/listing when it exists)")
    v.add_argument("--startup-timeout", type=float, default=480,
                   help="seconds to wait for the first 200 on /ping (SageMaker allows 480)")

    t = command("transform-local", "run the validation profile's batch transform on this machine, as SageMaker does",
                cmd_transform_local, "mpkit transform-local --output out/ --input big.csv --max-concurrent-transforms 2")
    t.add_argument("--input", help="an input file or a folder of them (default: the profile's input)")
    t.add_argument("--output", required=True, help="folder for the <input>.out files")
    t.add_argument("--image", help="image to run (default: mpkit/NAME:VERSION)")
    t.add_argument("--content-type", help="ContentType of the input (default: the profile's)")
    t.add_argument("--accept", help="Accept of the output (default: the profile's)")
    t.add_argument("--split-type", choices=["None", "Line"], help="SplitType: Line splits files into records "
                   "(default: the profile's)")
    t.add_argument("--batch-strategy", choices=["MultiRecord", "SingleRecord"],
                   help="records per request: as many as fit in --max-payload-mb, or one (default: the profile's)")
    t.add_argument("--max-payload-mb", type=int, help="MaxPayloadInMB, the largest request body (default: the profile's, else 6)")
    t.add_argument("--max-concurrent-transforms", type=int,
                   help="MaxConcurrentTransforms, requests in flight at once (default: the profile's, else 1)")
    t.add_argument("--assemble-with", choices=["None", "Line"],
                   help="AssembleWith: Line puts each answer on its own line in the .out file (default: the profile's)")

    def aws_options(c, registry=True):
        c.add_argument("--local", action="store_true", help="use the local target: an AWS emulator (moto) and a "
                       "registry on loopback, started for the run, state kept in .mpkit/local/")
        c.add_argument("--region", help="AWS Region (default: publish.region, else the AWS configuration's)")
        c.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
        c.add_argument("--endpoint-url", help="an AWS emulator's URL instead of AWS (tests; --local starts one itself)")
        if registry:
            c.add_argument("--registry", help="HOST:PORT of a registry standing in for ECR's, with --endpoint-url")
        c.add_argument("--wait-timeout", type=float, default=6 * 3600, help="seconds to wait for validation (default 6 h)")

    pu = command("publish", "build, validate, push by digest, upload, and create the certified model package", cmd_publish,
                 "mpkit publish --dry-run                           # the plan and the exact CreateModelPackage request\n"
                 "mpkit publish --region us-east-1 --no-wait && mpkit status --wait")
    aws_options(pu)
    pu.add_argument("--dry-run", action="store_true", help="print the plan and the exact CreateModelPackage request; "
                    "change nothing in AWS")
    pu.add_argument("--no-wait", action="store_true", help="exit once the package is created (`mpkit status --wait` resumes)")
    pu.add_argument("--skip-validate", action="store_true", help="do not run `mpkit validate` first")
    pu.add_argument("--report-dir", default="reports", help="where validate's reports go (default: reports)")
    pu.add_argument("--record", help="the publish record (default: .mpkit/publish/<target>/<package>.json)")

    st = command("status", "a model package's status, each validation and image scan item with its reason", cmd_status,
                 "mpkit status --wait --region us-east-1            # exit 8 if SageMaker's validation failed")
    st.add_argument("name", nargs="?", help="ModelPackageName or ARN (default: the manifest's NAME-VERSION)")
    aws_options(st, registry=False)
    st.add_argument("--wait", action="store_true", help="wait until Completed or Failed")

    li = command("listing", "write the Marketplace listing folder (usage, samples in and out, examples, notebook, "
                 "description, change set) and lint it", cmd_listing,
                 "mpkit listing --output listing/\nmpkit listing --submit            # the Catalog API validates the change set")
    li.add_argument("--output", help="the listing folder (default: build/NAME/listing)")
    li.add_argument("--report", help="validate's validation.json (default: the one the publish record names)")
    li.add_argument("--record", help="the publish record (default: .mpkit/publish/<target>/<package>.json)")
    li.add_argument("--local", action="store_true", help="list the package published with `mpkit publish --local`")
    li.add_argument("--image", help="image that answers the samples (default: mpkit/NAME:VERSION)")
    li.add_argument("--submit", action="store_true", help="send the change set to the Catalog API with Intent=VALIDATE")
    li.add_argument("--apply", action="store_true", help="with --submit: apply the change set once it validates")
    li.add_argument("--measure-on-aws", action="store_true", help="deploy the published package on the recommended "
                    "real-time instance type, measure latency and throughput with the samples, delete it (always), and "
                    "put the figures in the description (billed: the endpoint runs for a few minutes)")
    li.add_argument("--role", help="with --measure-on-aws: the execution role SageMaker assumes (default: validation.role)")
    li.add_argument("--profile", help="AWS profile for --submit and --measure-on-aws")
    li.add_argument("--endpoint-url", help="an emulator's URL instead of AWS (tests)")

    re_ = command("release", "put the published package on AWS Marketplace: product, offer, pricing and this version "
                  "(a first release), or this version added to the product; VALIDATE, then APPLY with --apply",
                  cmd_release,
                  "mpkit release --dry-run                           # every change set it would send\n"
                  "mpkit release --create-access-role --apply        # validate, then apply; re-run carries on\n"
                  "mpkit release --restrict 1.0.0 --apply            # no new subscribers for an old version")
    aws_options(re_, registry=False)
    re_.add_argument("--catalog-endpoint-url", help="a Catalog API emulator's URL instead of AWS's (tests)")
    re_.add_argument("--dry-run", action="store_true", help="print the change sets (StartChangeSet requests, in order) "
                     "and send nothing; needs no credentials")
    re_.add_argument("--apply", action="store_true", help="apply each change set once AWS Marketplace validated it "
                     "(default: VALIDATE only, which changes nothing)")
    re_.add_argument("--restrict", metavar="VERSION", help="restrict an old version: no new subscribers; existing ones "
                     "keep it, and you support them for 90 days")
    re_.add_argument("--create-access-role", action="store_true", help="create or repair the access role "
                     "(listing.access_role_arn): trusts assets.marketplace.amazonaws.com, reads the product's packages")
    re_.add_argument("--report-dir", default="reports", help="validate's reports, when the package must be published "
                     "first (default: reports)")
    re_.add_argument("--listing", help="the listing folder `mpkit listing` wrote (default: build/NAME/listing)")
    re_.add_argument("--record", help="the publish record (default: .mpkit/publish/<target>/<package>.json)")

    from . import buyer_cli

    buyer_cli.add_commands(command, lambda func: (lambda args: func(args, _say(args))))
    return p


def progress_modes() -> tuple:
    from .progress import MODES

    return MODES


def _failed(args, code: int, message: str, fix: str | None, problems: list | None = None) -> int:
    """The error on stderr; with --json also as one document on stdout, with what was done so far."""
    if getattr(args, "json", False):
        error = {"exit_code": code, "message": message, "fix": fix, "problems": problems or []}
        partial = getattr(args, "partial", None)
        document = {"error": error, **({"result": partial.to_dict()} if partial is not None else {})}
        print(json.dumps(document, indent=1, default=str))
    return code


def main(argv: list[str] | None = None) -> int:
    from .progress import set_mode

    args = parser().parse_args(argv)
    set_mode("none" if args.json and args.progress == "auto" else args.progress)
    try:
        return args.func(args)
    except ManifestError as exc:
        print("mpkit: the manifest is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return _failed(args, ConfigurationError.exit_code, "the manifest is not valid", None, exc.problems)
    except MpkitError as exc:
        print(f"mpkit: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  fix: {exc.hint}", file=sys.stderr)
        return _failed(args, exc.exit_code, str(exc), exc.hint)
    except KeyboardInterrupt:
        print("mpkit: interrupted; `mpkit publish` carries on from its record when run again", file=sys.stderr)
        return _failed(args, INTERRUPTED, "interrupted", None)
    except Exception as exc:  # a fault of mpkit's own: one line here, the traceback in a file
        log = _crash_log(args)
        print(f"mpkit: internal error ({type(exc).__name__}: {exc}); this is a bug in mpkit, not in your product. "
              f"The traceback is in {log}", file=sys.stderr)
        return _failed(args, INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}",
                       f"report it with the traceback in {log}")


def _crash_log(args) -> Path:
    """The traceback of an internal fault, written next to the manifest's other state (else the
    temporary folder), so that it survives the run and the user can attach it."""
    import tempfile
    import time
    import traceback

    text = f"mpkit {_version()} {' '.join(sys.argv[1:])}\n{traceback.format_exc()}"
    folders = [Path(getattr(args, "manifest", "manifest.yaml")).resolve().parent / ".mpkit" / "logs", Path(tempfile.gettempdir())]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"mpkit-crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return Path("(unwritable: " + ", ".join(map(str, folders)) + ")")


if __name__ == "__main__":
    sys.exit(main())
