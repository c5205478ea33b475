# The image of the Kubernetes deployment (deploy/helm/values.yaml): the code server that serves
# dagster_project.definitions, and every run pod the K8sRunLauncher starts from it.
#
#   docker build -t registry.example.com/flows:0.1.0 .
#
# It holds the checkout, the pinned environment of deploy/requirements-image.lock (the project's
# dependencies plus dagster-k8s, without the development tools) and dbt's manifest, so that no
# process has to parse the dbt project when it loads the definitions. Secrets come from the
# pod's environment (the Secrets of the Helm values), never from the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    UV_SYSTEM_PYTHON=1 \
    UV_NO_CACHE=1

WORKDIR /opt/flows

# The environment first: it changes less often than the code, so its layer is reused.
COPY deploy/requirements-image.lock deploy/requirements-image.lock
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --compile-bytecode -r deploy/requirements-image.lock

# Editable: the package finds the dbt project beside it, under /opt/flows.
COPY pyproject.toml README.md workspace.yaml ./
COPY dagster_project dagster_project
COPY dbt dbt
RUN uv pip install --no-deps -e . \
    && dagster-dbt project prepare-and-package --file dagster_project/defs/dbt/project.py \
    && useradd --uid 10001 --no-create-home flows \
    && chown -R flows dbt

# dbt writes its logs and run artifacts under dbt/ at run time.
USER flows
EXPOSE 3030
CMD ["dagster", "api", "grpc", "--module-name", "dagster_project.definitions", "--host", "0.0.0.0", "--port", "3030"]
