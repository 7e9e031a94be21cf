# The inference image. `mpkit build` stages the context (wheelhouse/, requirements.txt,
# prepare.json, inference_image/, serving.json, model/) and builds it with networking off.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
COPY requirements.txt /tmp/requirements.txt
COPY wheelhouse/ /tmp/wheelhouse/
# Wheels only, from the host-side wheelhouse: nothing is fetched, now or at run time (MP-SEC).
# The wheelhouse stays in this stage (the build step may reinstall from it); the final image
# takes only /opt/venv and /opt/mpkit.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheelhouse --no-cache-dir -r /tmp/requirements.txt

FROM deps AS prepared
ENV PYTHONPATH=/opt/mpkit PYTHONDONTWRITEBYTECODE=1
COPY inference_image/ /opt/mpkit/inference_image/
COPY serving.json /opt/mpkit/serving.json
# Empty for S3 delivery: the server then reads /opt/ml/model, which SageMaker mounts read-only.
COPY model/ /opt/mpkit/model/
COPY prepare.json /tmp/prepare.json
# The build step (inference_image/prepare.py): compile the featurizer, checked against
# scikit-learn, and leave out the libraries the model then does not need. Test suites, type
# stubs, C sources and headers shipped inside the wheels, and pip itself, are of no use at run
# time (setuptools stays: a handler's own packages may import pkg_resources).
RUN /opt/venv/bin/python3 -m inference_image prepare /opt/mpkit/model /tmp/prepare.json /opt/mpkit/prepared.json \
 && /opt/venv/bin/pip uninstall -y -q pip \
 && find /opt/venv -depth -type d -name tests -path '*site-packages/*' -exec rm -rf {} + \
 && find /opt/venv -path '*site-packages/*' -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.h' \
      -o -name '*.c' -o -name '*.cpp' \) -delete \
 && find /opt/mpkit -depth -type d -name __pycache__ -exec rm -rf {} +

FROM ${BASE_IMAGE}
# SageMaker may start us on another port in an inference pipeline (SM-PIPE).
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/mpkit \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=prepared /opt/venv /opt/venv
COPY --from=prepared /opt/mpkit /opt/mpkit
# SageMaker expects root (SM-HOST); stated so that no base image's USER carries over.
USER root
WORKDIR /opt/mpkit
EXPOSE 8080
# Exec form, no init wrapper: SIGTERM must reach the server itself (SM-HOST).
ENTRYPOINT ["/opt/venv/bin/python3", "-m", "inference_image"]
CMD ["serve"]
