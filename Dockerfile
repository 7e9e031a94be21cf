# The inference image. `mpkit build` stages the context (wheelhouse/, requirements.txt,
# inference_image/, serving.json, model/) and builds it with networking off.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
COPY requirements.txt /tmp/requirements.txt
COPY wheelhouse/ /tmp/wheelhouse/
# Wheels only, from the host-side wheelhouse: nothing is fetched, now or at run time (MP-SEC).
# Test suites, type stubs, C sources and headers shipped inside the wheels, and pip itself, are
# of no use at run time (setuptools stays: a handler's own packages may import pkg_resources).
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheelhouse --no-cache-dir -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall -y pip \
 && find /opt/venv -depth -type d -name tests -path '*site-packages/*' -exec rm -rf {} + \
 && find /opt/venv -path '*site-packages/*' -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.h' \
      -o -name '*.c' -o -name '*.cpp' \) -delete \
 && rm -rf /tmp/wheelhouse

FROM ${BASE_IMAGE}
# SageMaker may start us on another port in an inference pipeline (SM-PIPE).
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/mpkit \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=deps /opt/venv /opt/venv
COPY inference_image/ /opt/mpkit/inference_image/
COPY serving.json /opt/mpkit/serving.json
# Empty for S3 delivery: the server then reads /opt/ml/model, which SageMaker mounts read-only.
COPY model/ /opt/mpkit/model/
# SageMaker expects root (SM-HOST); stated so that no base image's USER carries over.
USER root
WORKDIR /opt/mpkit
EXPOSE 8080
# Exec form, no init wrapper: SIGTERM must reach the server itself (SM-HOST).
ENTRYPOINT ["/opt/venv/bin/python3", "-m", "inference_image"]
CMD ["serve"]
