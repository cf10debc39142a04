# The gateway image: gunicorn serving the app; configuration through GATEWAY_* variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GATEWAY_BIND=0.0.0.0:8000 GATEWAY_VAR_DIR=/var/lib/gateway

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 --home /var/lib/gateway gateway \
    && mkdir -p /var/lib/gateway && chown gateway /var/lib/gateway

USER gateway
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "gateway db upgrade && exec gateway serve"]
