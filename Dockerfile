# One image for the operator (`otel-operator run`) and its target allocators (`otel-operator allocator ...`).
#   docker build -t ghcr.io/otel-operator/otel-operator:0.1.0 .
# Stage 1 builds the wheels (ours and every dependency's); stage 2 installs them and nothing else, so no
# compiler, build backend or source tree is left in the image.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links /wheels otel-operator \
    && python -m pip uninstall -y pip setuptools wheel \
    && groupadd --gid 65532 otel && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin otel
USER 65532:65532
WORKDIR /tmp
# The allocator's Deployment runs this image with args ["allocator", "--config", ...]; the chart passes ["run", ...].
ENTRYPOINT ["otel-operator"]
CMD ["run"]
