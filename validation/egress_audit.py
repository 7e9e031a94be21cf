"""The audit hook put into the image's Python under `validate` (as sitecustomize.py on a
read-only mount ahead of the image's own PYTHONPATH). It reports, once each, every name the
server resolves and every address it connects to outside loopback, and every installer it
runs, on stderr with the prefix below; the container's network is off, so these are the calls
that fail under SageMaker too (aws/amazon-sagemaker-examples#2995). The image's own
sitecustomize, if it has one, still runs after the hook is in place."""

from pathlib import Path

from .egress_hook import PREFIX

# The hook's source, written into the container as sitecustomize.py.
SITECUSTOMIZE = Path(__file__).with_name("egress_hook.py").read_text()


def events(logs: str) -> list[str]:
    seen = []
    for line in logs.splitlines():
        if PREFIX in line:
            event = line.split(PREFIX, 1)[1].strip()
            if event not in seen:
                seen.append(event)
    return seen
