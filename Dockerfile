# One image for every videojobs service; the compose file (or a Deployment) picks one with `serve <name>`.
# Dependencies are their own layer, keyed on the runtime pins alone: a code change, or a change to the
# development extras, rebuilds only the last layers. The image carries only the runtime dependencies (not
# the `dev` or `embedded` extras).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The exact pins of [project] dependencies, read from pyproject.toml (tomllib is in the standard library).
FROM base AS requirements
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /requirements.txt

# The project as a wheel, built apart so the build tools stay out of the final image.
FROM base AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY videojobs ./videojobs
COPY videojobs_cli ./videojobs_cli
COPY job_service ./job_service
COPY provider_service ./provider_service
COPY storage_service ./storage_service
COPY gateway ./gateway
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base
RUN useradd --system --uid 10001 --no-create-home videojobs
# Cached for as long as the pins are the same (COPY is keyed on the file's content).
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
# --no-deps: everything it needs is in the layer above; `pip check` fails the build if that is not so.
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels && pip check
USER 10001
EXPOSE 8080 50051 50052 50053
ENTRYPOINT ["videojobs"]
