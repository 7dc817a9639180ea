# tubesum container image — one file builds the CPU and the CUDA variant (docs/packaging-docker.md).
# Needs BuildKit (the default builder since Docker 23) or Podman/Buildah for RUN --mount.
#
#   CPU:   docker build -t tubesum .
#   CUDA:  docker build -t tubesum:cuda \
#            --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04 \
#            --build-arg PYTHON=python3.11 --build-arg EXTRAS=summarize,diarize .
#   Offline smoke image with the bundled tiny.en model: --build-arg EXTRAS=sample
#
# Base images are pinned by tag here. Release builds pin them by digest: the images workflow resolves
#   python:3.11-slim-bookworm@sha256:<set by the images workflow>
#   nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04@sha256:<set by the images workflow>
# (`skopeo inspect --format '{{.Digest}}' docker://IMAGE:TAG`) and passes them as BASE_IMAGE. No digest is written
# into this file because none could be verified where it was written (no registry access): a wrong digest would
# fail every build, a tag only drifts with upstream security rebuilds.
#
# Both stages start from BASE_IMAGE so that the venv's interpreter path is the same in builder and runtime.
# PYTHON names the interpreter: python3 on python:*-slim (/usr/local/bin) and Debian bookworm (/usr/bin, 3.11);
# python3.11 on Ubuntu 22.04 (its python3 is 3.10). When BASE_IMAGE has no such interpreter, apt installs it.
#
# TLS-intercepting networks: pass the proxy's CA bundle as a build secret,
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
# It is mounted only into the builder's pip/uv steps (/run/secrets/ca) and never lands in any image layer.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder
ARG PYTHON=python3
# Extra extras on top of pdf and scale, comma separated: sample | summarize,diarize | sentry ...
ARG EXTRAS=""
ARG UV_VERSION=0.13.9
ENV DEBIAN_FRONTEND=noninteractive \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_CACHE_DIR=/root/.cache/uv
# (SHELL after every ARG/ENV of the stage: hadolint 2.x forgets it after an ARG or ENV and lints bash as sh.)
SHELL ["/bin/bash", "-e", "-u", "-o", "pipefail", "-c"]

# Compilers and Cairo headers for pycairo (sdist only on Linux). When the interpreter is missing, or comes from
# apt (Debian/Ubuntu bases), also its -venv and -dev packages; python:*-slim ships its own in /usr/local.
# Debian/Ubuntu package versions are not pinned: the base tag pins the release, the archive only has the latest.
# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    apt-get update; \
    pkgs=(gcc libc6-dev pkg-config libcairo2-dev); \
    if ! command -v "$PYTHON" >/dev/null || dpkg -S "$(readlink -f "$(command -v "$PYTHON")")" >/dev/null 2>&1; then \
        pkgs+=("$PYTHON" "$PYTHON-venv" "$PYTHON-dev"); \
    fi; \
    apt-get install -y --no-install-recommends "${pkgs[@]}"

# uv from PyPI, pinned (same version as scripts/bootstrap), in its own venv that never reaches the runtime stage.
RUN --mount=type=secret,id=ca \
    if [[ -s /run/secrets/ca ]]; then export PIP_CERT=/run/secrets/ca; fi; \
    "$PYTHON" -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

WORKDIR /src

# Dependencies first, from the lock file alone: editing the source does not invalidate this layer.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    --mount=type=bind,source=uv.lock,target=/src/uv.lock \
    if [[ -s /run/secrets/ca ]]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    extras=(--extra pdf --extra scale); \
    for extra in ${EXTRAS//,/ }; do extras+=(--extra "$extra"); done; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --python "$(command -v "$PYTHON")" "${extras[@]}"

# Then the project itself, as a regular (non-editable) install: /src stays behind in the builder.
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca \
    if [[ -s /run/secrets/ca ]]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    extras=(--extra pdf --extra scale); \
    for extra in ${EXTRAS//,/ }; do extras+=(--extra "$extra"); done; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --python "$(command -v "$PYTHON")" "${extras[@]}" \
    && /opt/venv/bin/tubesum --version

# ---------------------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG PYTHON=python3
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/tubesum/tubesum
SHELL ["/bin/bash", "-e", "-u", "-o", "pipefail", "-c"]

LABEL org.opencontainers.image.title="tubesum" \
      org.opencontainers.image.description="YouTube and media transcripts and summaries (yt-dlp + faster-whisper): CLI and HTTP API" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# Runtime only: ffmpeg (yt-dlp post-processing), Cairo + a font (PDF reports), CA roots (HTTPS), tini (PID 1).
# hadolint ignore=DL3008
RUN apt-get update \
    && pkgs=(ffmpeg libcairo2 fonts-dejavu-core ca-certificates tini) \
    && { command -v "$PYTHON" >/dev/null || pkgs+=("$PYTHON"); } \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root UID (10001, outside the range of host users) so volume ownership is predictable:
# `chown 10001` a bind-mounted directory. The venv stays root-owned: the app cannot modify its own code.
RUN groupadd --gid 10001 tubesum \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/tubesum \
        --shell /usr/sbin/nologin tubesum \
    && mkdir -p /models /data /outputs \
    && chown tubesum:tubesum /models /data /outputs

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TUBESUM_HOST=0.0.0.0 \
    TUBESUM_DATA_DIR=/data \
    TUBESUM_WORK_DIR=/data/work \
    TUBESUM_MODEL_CACHE_DIR=/models \
    TUBESUM_OUTPUT_DIR=/outputs \
    HF_HOME=/models/huggingface \
    XDG_CACHE_HOME=/tmp/cache \
    HF_HUB_DISABLE_TELEMETRY=1 \
    PYANNOTE_METRICS_ENABLED=0

USER 10001:10001
WORKDIR /home/tubesum
VOLUME ["/models", "/data", "/outputs"]
EXPOSE 8000

# Liveness without curl: the venv's python asks /healthz on the port the server listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TUBESUM_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["tini", "--", "tubesum"]
CMD ["serve"]
