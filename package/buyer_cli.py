"""The buyer's commands (`subscribe`, `resolve`, `deploy`, `invoke`, `transform`, `teardown`):
each parses its options, calls one function of listing/, and prints the result as text or, with
--json, one JSON document. `--dry-run` runs the same path through listing/planned.py and prints
`{"requests": [...]}`, every request in the order it would be sent."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .errors import ConfigurationError

ARN = "arn:aws:sagemaker:us-east-1:865070037744:model-package/my-product-1-0-0-abc123"


def _aws(args):
    from listing.planned import PlannedAws

    from .aws import Aws, Target

    if getattr(args, "dry_run", False):
        try:
            inner = Aws(Target(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url))
            inner.region  # noqa: B018 - a missing Region is a note in a dry run, not an error
        except ConfigurationError:
            inner = None
        return PlannedAws(inner, region=args.region)
    return Aws(Target(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url))


def _record(args, aws):
    from listing.buyer import DEFAULT_RECORD, BuyerRecord, PlannedRecord

    if getattr(aws, "dry_run", False):
        return PlannedRecord()
    return BuyerRecord(Path(args.record) if getattr(args, "record", None) else DEFAULT_RECORD)


def _planned(args, aws) -> bool:
    """A dry run's document; True when it was printed."""
    if not getattr(aws, "dry_run", False):
        return False
    print(json.dumps(aws.to_dict(), indent=1, default=str) if args.json else _requests_text(aws))
    return True


def _requests_text(aws) -> str:
    lines = ["dry run: nothing was sent. The requests, in order:"]
    for n, r in enumerate(aws.requests, 1):
        lines.append(f"  {n:2}. {r['service']} {r['operation']} " + json.dumps(r["params"], default=str)[:160])
    lines += [f"  note: {note}" for note in aws.notes]
    return "\n".join(lines)


def cmd_subscribe(args, say) -> int:
    from listing.subscribe import REGION, subscribe

    args.region = REGION  # the Agreement and Discovery APIs
    aws = _aws(args)
    result = subscribe(aws, args.product, offer_id=args.offer, accept=args.accept, timeout=args.wait_timeout, say=say)
    if _planned(args, aws):
        return 0
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    print(f"{result.product_id}: {result.state}" + (f" (agreement {result.agreement_id})" if result.agreement_id else ""))
    if result.offer_id:
        print(f"  offer {result.offer_id}")
    for price in result.prices:
        print(f"  {price['dimension']}: USD {price['price']}" + (f" per {price['unit']}" if price.get("unit") else ""))
    if result.free_trial:
        print(f"  free trial: {result.free_trial}")
    for note in result.notes:
        print(f"  {note}")
    return 0


def _resolve(args, product: str) -> dict:
    from listing.catalog import Catalog
    from listing.resolve import resolve

    from .aws import Aws, Target

    catalog = Catalog(Aws(Target(region="us-east-1", profile=args.profile,
                                 endpoint_url=getattr(args, "catalog_endpoint_url", None) or args.endpoint_url)))
    region = args.region or Aws(Target(profile=args.profile)).region
    return resolve(product_id=product, region=region, catalog=catalog,
                   listing_index=Path(args.listing) if getattr(args, "listing", None) else None,
                   version=getattr(args, "version", None))


def cmd_resolve(args, say) -> int:
    found = _resolve(args, args.product)
    print(json.dumps(found, indent=1) if args.json else f"{found['arn']}\n  (version {found.get('version')}, from "
          f"{found['source']})")
    return 0


def cmd_deploy(args, say) -> int:
    from listing import deploy as d

    aws = _aws(args)
    if args.update:
        weights = dict(_weight(w) for w in args.weight)
        result = d.update_weights(aws, endpoint=args.update, weights=weights, wait=not args.no_wait,
                                  timeout=args.wait_timeout, say=say)
        if not _planned(args, aws):
            print(json.dumps(result, indent=1) if args.json else f"endpoint {args.update}: {result['status']}")
        return 0
    if args.product and not args.model_package:
        args.model_package = _resolve(args, args.product)["arn"]
        say(f"{args.product} in {args.region or 'this Region'}: {args.model_package}")
    if not args.model_package:
        raise ConfigurationError("--model-package or --product is required",
                                 hint="the subscribed package's ARN for this Region (`mpkit resolve`), or its product ID")
    variants = [d.parse_variant(v) for v in args.variant]
    if args.instance_type:
        variants.insert(0, d.Variant(args.instance_type, args.count))
    capture = d.DataCapture(args.data_capture, args.capture_percent) if args.data_capture else None
    scaling = None
    if args.autoscale:
        low, _, high = args.autoscale.partition(":")
        try:
            scaling = d.Autoscaling(int(low), int(high or low), args.target_invocations)
        except ValueError as exc:
            raise ConfigurationError(f"--autoscale {args.autoscale}: give MIN:MAX, e.g. 1:4") from exc
    measured = json.loads(Path(args.listing).read_text()).get("startup_s") if args.listing else None
    result = d.deploy(aws, _record(args, aws), arn=args.model_package, variants=variants, role=args.role,
                      name=args.name, data_capture=capture, autoscaling=scaling, startup_timeout=args.startup_timeout,
                      download_timeout=args.download_timeout, measured_startup=measured, wait=not args.no_wait,
                      timeout=args.wait_timeout, say=say)
    if _planned(args, aws):
        return 0
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(f"endpoint {result.endpoint}: {result.status} in {result.region} ({result.seconds:.0f} s)")
        print(f"next: mpkit invoke {result.endpoint} --file FILE --content-type TYPE; `mpkit teardown` deletes it")
    return 0


def _weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if sep and name:
            return name, float(value)
    except ValueError:
        pass
    raise ConfigurationError(f"--weight {text!r}: give VARIANT=WEIGHT, e.g. variant-2=0.1")


def cmd_invoke(args, say) -> int:
    from listing.buyer import invoke

    path = Path(args.file)
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such file")
    reply = invoke(_aws(args), endpoint=args.endpoint, body=path.read_bytes(), content_type=args.content_type,
                   accept=args.accept)
    if args.output:
        Path(args.output).write_bytes(reply["body"])
    if args.json:
        print(json.dumps({"content_type": reply["content_type"], "milliseconds": reply["milliseconds"],
                          "body": reply["body"].decode(errors="replace"), "output": args.output}, indent=1))
    elif not args.output:
        sys.stdout.write(reply["body"].decode(errors="replace"))
        if not reply["body"].endswith(b"\n"):
            print()
    print(f"{reply['content_type']}, {len(reply['body'])} bytes in {reply['milliseconds']} ms", file=sys.stderr)
    return 0


def cmd_transform(args, say) -> int:
    from listing.buyer import transform

    aws = _aws(args)
    result = transform(aws, _record(args, aws), arn=args.model_package, input_uri=args.input,
                       output_uri=args.output, role=args.role, instance_type=args.instance_type,
                       content_type=args.content_type, accept=args.accept, split_type=args.split_type,
                       assemble_with=args.assemble_with, name=args.name, wait=not args.no_wait,
                       instance_count=args.instance_count, timeout=args.wait_timeout, say=say)
    if _planned(args, aws):
        return 0
    if args.json:
        print(json.dumps({**result.to_dict(), "ok": result.ok}, indent=1))
    else:
        print(f"transform job {result.job}: {result.status} on {result.instance_count} instance(s) "
              f"({result.seconds:.0f} s)")
        for uri in result.outputs:
            print(f"  {uri}")
        for uri in result.missing:
            print(f"  no .out for {uri}")
        if result.failure:
            print(f"  {result.failure}")
    return 0 if result.ok else 1


def cmd_teardown(args, say) -> int:
    from listing.buyer import teardown

    aws = _aws(args)
    record = _record(args, aws)
    done = teardown(aws, record, say=say)
    if args.json:
        print(json.dumps({"removed": done, "record": str(record.path)}, indent=1))
    elif not done:
        print(f"nothing to tear down: {record.path} lists nothing in this Region")
    return 0


def add_commands(command, bind) -> None:
    """The buyer's subcommands on the parser; `command` makes one, `bind` turns a cmd_ function
    into the parser's callback (it adds the progress printer)."""

    def buyer_options(c, record=True, dry_run=False):
        c.add_argument("--region", help="AWS Region (default: the AWS configuration's)")
        c.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
        c.add_argument("--endpoint-url", help="an AWS emulator's URL instead of AWS (tests)")
        if record:
            c.add_argument("--record", help="where created resources are recorded (default: .mpkit/buyer/resources.json)")
        if dry_run:
            c.add_argument("--dry-run", action="store_true", help="print every request it would send, in order, "
                           "and send only those that change nothing; needs no credentials")

    def job_options(c, required=True):
        c.add_argument("--model-package", required=required, metavar="ARN", help="the subscribed model package's ARN "
                       "for this Region (`mpkit resolve`, or AWS Marketplace: Continue to Configuration)")
        c.add_argument("--role", default=os.environ.get("SAGEMAKER_ROLE_ARN"),
                       help="execution role ARN SageMaker assumes (default: $SAGEMAKER_ROLE_ARN)")
        c.add_argument("--name", help="name of the model and endpoint or job (default: the package's name, the time "
                       "and a random part)")
        c.add_argument("--no-wait", action="store_true", help="return once created")
        c.add_argument("--wait-timeout", type=float, default=3600, help="seconds to wait (default 3600)")

    su = command("subscribe", "buyer: subscribe to a product: its offer's terms and prices as a quote (nothing accepted), "
                 "then, with --accept, the agreement and its entitlement", bind(cmd_subscribe),
                 "mpkit subscribe prod-abc123example          # the quote\nmpkit subscribe prod-abc123example --accept",
                 manifest=False)
    su.add_argument("product", help="the product ID (prod-...), at the end of the product page's URL")
    su.add_argument("--offer", help="the offer to quote (default: the product's public offer)")
    su.add_argument("--accept", action="store_true", help="accept the quoted terms and wait for the entitlement")
    su.add_argument("--wait-timeout", type=float, default=900, help="seconds to wait for the entitlement (default 900)")
    buyer_options(su, record=False, dry_run=True)

    rs = command("resolve", "buyer or seller: the product's model package ARN for this Region (each Region has its own)",
                 bind(cmd_resolve), "mpkit resolve prod-abc123example --region eu-west-1", manifest=False)
    rs.add_argument("product", help="the product ID (prod-...)")
    rs.add_argument("--version", help="a version title (default: the latest)")
    rs.add_argument("--listing", help="the listing folder's listing.json, which carries the seller's Region -> ARN map")
    rs.add_argument("--catalog-endpoint-url", help="a Catalog API emulator's URL (tests)")
    buyer_options(rs, record=False)

    de = command("deploy", "buyer: deploy a subscribed model package as a real-time endpoint (network isolation on), "
                 "with variants, data capture and autoscaling; every check before anything is created",
                 bind(cmd_deploy), f"mpkit deploy --model-package {ARN} \\\n    --instance-type ml.m5.large --role "
                 "$SAGEMAKER_ROLE_ARN\nmpkit deploy --model-package ARN_V1 --variant instance-type=ml.m5.large,weight=0.9 "
                 "\\\n    --variant instance-type=ml.m5.large,weight=0.1,model-package=ARN_V2 --data-capture "
                 "s3://bucket/capture/ --autoscale 1:4 --dry-run\nmpkit deploy --update ENDPOINT --weight variant-1=0.5 "
                 "--weight variant-2=0.5", manifest=False)
    job_options(de, required=False)
    de.add_argument("--product", help="the product ID instead of --model-package: its ARN for this Region is resolved "
                    "(`mpkit resolve`)")
    de.add_argument("--listing", help="the listing's listing.json: the Region -> ARN map for --product, and the "
                    "measured startup that --startup-timeout must allow")
    de.add_argument("--catalog-endpoint-url", help="with --product: a Catalog API emulator's URL (tests)")
    de.add_argument("--instance-type", help="one variant on this type, e.g. ml.m5.large (one the package supports)")
    de.add_argument("--count", type=int, default=1, help="instances of --instance-type (default 1)")
    de.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE,...",
                    help="a production variant: instance-type=TYPE[,count=N][,weight=W][,model-package=ARN][,name=NAME]; "
                         "repeatable (A/B between package versions)")
    de.add_argument("--data-capture", metavar="S3_URI", help="capture requests and answers to this s3:// prefix "
                    "(for Model Monitor)")
    de.add_argument("--capture-percent", type=int, default=100, help="with --data-capture: the share sampled (default 100)")
    de.add_argument("--autoscale", metavar="MIN:MAX", help="target-tracking autoscaling of each variant between MIN and "
                    "MAX instances")
    de.add_argument("--target-invocations", type=float, default=100.0, help="with --autoscale: invocations per "
                    "instance per minute to hold (default 100)")
    de.add_argument("--startup-timeout", type=int, help="ContainerStartupHealthCheckTimeoutInSeconds, 60 to 3600")
    de.add_argument("--download-timeout", type=int, help="ModelDataDownloadTimeoutInSeconds, 60 to 3600")
    de.add_argument("--update", metavar="ENDPOINT", help="shift the weights of an existing endpoint's variants "
                    "(with --weight)")
    de.add_argument("--weight", action="append", default=[], metavar="VARIANT=WEIGHT", help="with --update; repeatable")
    buyer_options(de, dry_run=True)

    iv = command("invoke", "buyer: send a file to an endpoint and print the answer", bind(cmd_invoke),
                 "mpkit invoke my-endpoint --file rows.csv --content-type text/csv --accept application/json",
                 manifest=False)
    iv.add_argument("endpoint", help="endpoint name")
    iv.add_argument("--file", required=True, help="request body")
    iv.add_argument("--content-type", required=True, help="Content-Type of the body (one the package supports)")
    iv.add_argument("--accept", help="Accept: the answer's media type (default: the package's own default)")
    iv.add_argument("--output", help="write the answer to this file instead of stdout")
    buyer_options(iv, record=False)

    tr = command("transform", "buyer: run a batch transform job with a subscribed model package; show the .out file "
                 "of each input (exit 1 when one is missing)", bind(cmd_transform),
                 f"mpkit transform --model-package {ARN} \\\n    --input s3://my-bucket/in/ --output s3://my-bucket/out/ "
                 "--role $SAGEMAKER_ROLE_ARN --instance-count 2", manifest=False)
    job_options(tr)
    tr.add_argument("--input", required=True, help="s3:// prefix of the input files")
    tr.add_argument("--output", required=True, help="s3:// prefix for the .out files")
    tr.add_argument("--instance-type", help="default: the package's first supported transform instance type")
    tr.add_argument("--instance-count", type=int, default=1, help="instances; SageMaker gives each whole input files "
                    "(default 1)")
    tr.add_argument("--content-type", help="default: the package's first supported content type")
    tr.add_argument("--accept", help="Accept of the .out files (default: the package's own default)")
    tr.add_argument("--split-type", default="Line", choices=["None", "Line"],
                    help="SplitType: Line sends records, not whole files (default: Line)")
    tr.add_argument("--assemble-with", default="Line", choices=["None", "Line"],
                    help="AssembleWith: Line puts each answer on its own line (default: Line)")
    buyer_options(tr, dry_run=True)

    td = command("teardown", "buyer: delete what deploy and transform created in this Region (scaling, endpoints, "
                 "configurations, models, running jobs), nothing else", bind(cmd_teardown),
                 "mpkit teardown --region us-east-1", manifest=False)
    buyer_options(td)
