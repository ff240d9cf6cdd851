# One image for every videojobs service; the compose file picks the service with `videojobs serve <name>`.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY videojobs ./videojobs
COPY videojobs_cli ./videojobs_cli
COPY job_service ./job_service
COPY provider_service ./provider_service
COPY storage_service ./storage_service
COPY gateway ./gateway
RUN pip install . && useradd --system --uid 10001 videojobs
USER videojobs
ENTRYPOINT ["videojobs"]
