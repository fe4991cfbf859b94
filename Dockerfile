# syntax=docker/dockerfile:1
# The Gatepass operator image (make image). The base is pinned, the Python
# dependencies are the tested ones (requirements.lock), and it runs as an
# unprivileged user on a read-only root filesystem (manifests/manager).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/gatepass
COPY requirements.lock ./
RUN /opt/gatepass/bin/pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/gatepass/bin/pip install --no-deps ./ \
    && /opt/gatepass/bin/python -m compileall -q /opt/gatepass

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gatepass-operator" \
      org.opencontainers.image.description="Just-in-time access requests for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/gatepass /opt/gatepass
# The unprivileged user has a name: kopf (and Python's getpass) look the
# running uid up in /etc/passwd and fail at start-up without an entry.
RUN echo "gatepass:x:65532:65532:Gatepass operator:/nonexistent:/usr/sbin/nologin" >> /etc/passwd \
    && echo "gatepass:x:65532:" >> /etc/group
ENV PATH=/opt/gatepass/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 9443 8080
ENTRYPOINT ["gatepass-operator"]
