"""The listing's usage examples: AWS CLI commands and a boto3 script, for the published Region's
ARN and the bundled samples. The boto3 script is the notebook's code, in one file."""

from __future__ import annotations

import json
import shlex
import textwrap

from package import rules

from . import buyer_code
from .samples import SampleFile

CLI = "examples/aws-cli.sh"
BOTO3 = "examples/boto3_example.py"


def cli_script(*, package_name: str, arn: str, region: str, recommended: dict, samples: list[SampleFile],
               batch_job: dict) -> str:
    realtime = [s for s in samples if s.kind == "realtime"]
    batch = next(s for s in samples if s.kind == "batch")
    q = shlex.quote
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://$BUCKET/$NAME/input/"}},
                       "ContentType": batch.content_type, "SplitType": batch_job.get("SplitType") or "None"}
    transform_output = {"S3OutputPath": "s3://$BUCKET/$NAME/output/", "Accept": batch.accept,
                        "AssembleWith": batch_job.get("AssembleWith") or "None"}
    lines = [
        "#!/bin/sh",
        f"# Use {package_name} from the AWS CLI: real-time endpoint, then batch transform, then clean up.",
        "# Needs: a subscription to the product, an IAM role SageMaker can assume, an S3 bucket in the Region.",
        "# Your configured Region is used as it is; the ARN must be the one for it.",
        "set -eu",
        'cd "$(dirname "$0")/.."  # the listing folder, where samples/ is',
        f'MODEL_PACKAGE_ARN="${{MODEL_PACKAGE_ARN:-{arn}}}"  # for {region}; another Region: `mpkit resolve PRODUCT_ID`',
        'REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"',
        'case "$MODEL_PACKAGE_ARN" in',
        '  arn:aws:sagemaker:"$REGION":*) ;;',
        '  *) echo "$MODEL_PACKAGE_ARN is not for your Region ($REGION): set MODEL_PACKAGE_ARN to the ARN for it" >&2; exit 2 ;;',
        'esac',
        'ROLE_ARN="${SAGEMAKER_ROLE_ARN:?set SAGEMAKER_ROLE_ARN to a role SageMaker can assume}"',
        'BUCKET="${SAGEMAKER_BUCKET:?set SAGEMAKER_BUCKET to a bucket in the Region}"',
        f"NAME={q(package_name[:33].rstrip('-'))}-$(date +%Y%m%d-%H%M%S)-$$",
        "",
        "# Whatever step fails, and at the end, delete what this script created: endpoints bill by the hour.",
        "cleanup() {",
        "  set +e",
        '  aws sagemaker delete-endpoint --endpoint-name "$NAME" >/dev/null 2>&1',
        '  aws sagemaker delete-endpoint-config --endpoint-config-name "$NAME" >/dev/null 2>&1',
        '  aws sagemaker delete-model --model-name "$NAME" >/dev/null 2>&1',
        '  aws s3 rm --recursive --quiet "s3://$BUCKET/$NAME/"',
        '  echo "cleaned up $NAME"',
        "}",
        "trap cleanup EXIT",
        "",
        "# The model, isolated from the network as every Marketplace model is",
        'aws sagemaker create-model --model-name "$NAME" --execution-role-arn "$ROLE_ARN" \\',
        '    --primary-container ModelPackageName="$MODEL_PACKAGE_ARN" --enable-network-isolation',
        "",
        "# Real-time",
        'aws sagemaker create-endpoint-config --endpoint-config-name "$NAME" \\',
        f'    --production-variants VariantName=AllTraffic,ModelName="$NAME",InitialInstanceCount=1,InstanceType={recommended["realtime"]}',
        'aws sagemaker create-endpoint --endpoint-name "$NAME" --endpoint-config-name "$NAME"',
        'aws sagemaker wait endpoint-in-service --endpoint-name "$NAME"',
    ]
    for s in realtime:
        out = s.output.rsplit("/", 1)[-1]
        lines.append(f'aws sagemaker-runtime invoke-endpoint --endpoint-name "$NAME" --content-type {q(s.content_type)} '
                     f'--accept {q(s.accept)} --body fileb://{q(s.input)} {q(out)} && cat {q(out)}')
    lines += [
        "",
        "# Batch transform",
        f'aws s3 cp {q(batch.input)} "s3://$BUCKET/$NAME/input/"',
        'aws sagemaker create-transform-job --transform-job-name "$NAME" --model-name "$NAME" \\',
        f'    --batch-strategy {batch_job.get("BatchStrategy") or "MultiRecord"} '
        f'--max-payload-in-mb {batch_job.get("MaxPayloadInMB") or rules.BATCH_DEFAULTS["MaxPayloadInMB"]} \\',
        f"    --transform-input \"{json.dumps(transform_input).replace(chr(34), chr(92) + chr(34))}\" \\",
        f"    --transform-output \"{json.dumps(transform_output).replace(chr(34), chr(92) + chr(34))}\" \\",
        f"    --transform-resources InstanceType={recommended['batch']},InstanceCount=1",
        'aws sagemaker wait transform-job-completed-or-stopped --transform-job-name "$NAME"',
        'aws s3 ls "s3://$BUCKET/$NAME/output/"',
        f'aws s3 cp "s3://$BUCKET/$NAME/output/{batch.input.rsplit("/", 1)[-1]}.out" - | head -5',
    ]
    return "\n".join(lines) + "\n"


def boto3_script(parameters: str) -> str:
    """The notebook's steps; whatever fails after the setup, the cleanup runs (try/finally)."""
    parts = ['"""Use the product with boto3: the buyer notebook\'s steps in one script.\n\n'
             "Run it from the listing folder (the samples are read from samples/):  python examples/boto3_example.py\n"
             "Whatever step fails, what it created is deleted before it exits.\n"
             '"""', "import os", "", 'os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))', "",
             parameters]
    (_, setup), *steps = [(step, source) for step, source in buyer_code.STEPS if step != "cleanup"]
    parts += ["# ---- setup", setup, "try:"]
    for step, source in steps:
        parts += [f"    # ---- {step.replace('_', ' ')}", textwrap.indent(source, "    ")]
    parts += ["finally:", "    cleanup()", ""]
    return "\n".join(parts)
