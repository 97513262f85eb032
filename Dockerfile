# bimpe-mcp as a shared streamable HTTP service: `docker build -t bimpe-mcp .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group bimpe

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bimpe_mcp ./bimpe_mcp
RUN pip install --no-cache-dir . && rm -rf /app/bimpe_mcp

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["bimpe-mcp"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000", "--stateless"]
