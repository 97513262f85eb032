# bimpe-mcp as a shared streamable HTTP service: `docker build -t bimpe-mcp .`
# Stage 1 builds a virtual environment; stage 2 is the slim runtime with only that environment.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bimpe_mcp ./bimpe_mcp
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .


FROM python:3.11-slim

# The MCP Registry checks this label against manifests/server.json's name.
LABEL io.modelcontextprotocol.server.name="io.github.bimpeai/bimpe-mcp" \
      org.opencontainers.image.title="bimpe-mcp" \
      org.opencontainers.image.description="MCP server for the BimpeAI Console API" \
      org.opencontainers.image.source="https://github.com/bimpeai/bimpe-mcp" \
      org.opencontainers.image.licenses="MIT"

# BIMPE_ALLOWED_HOSTS: the Host headers /mcp accepts. This default suits `docker run -p 8000:8000`
# on your machine; behind a load balancer set it to the public host name(s) (manifests/k8s/configmap.yaml).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BIMPE_ALLOWED_HOSTS="localhost:*,127.0.0.1:*"

RUN groupadd --system --gid 10001 bimpe \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin bimpe

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["bimpe-mcp"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000", "--stateless"]
