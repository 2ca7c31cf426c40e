#!/usr/bin/env bash
# Builds the sidecar sample (the app alone), pushes it to Artifact Registry, deploys it to Cloud
# Run, then lets `datadog-ci cloud-run instrument` add the serverless-init sidecar container, the
# shared log volume and the Datadog variables.
#
# Required: PROJECT_ID, GCP_PROJECT_NAME (Cloud Run service name), DD_SERVICE, REPO_NAME
# (Artifact Registry repository), DD_API_KEY, DD_SITE.
# Optional: REGION (us-central1), DD_ENV (dev), DD_VERSION (1.0.0).
# Needs gcloud, docker and npx (Node.js), with application-default credentials for datadog-ci
# (`gcloud auth application-default login`).
set -euo pipefail

# Validate the required variables: a missing one stops here, naming it.
PROJECT_ID=${PROJECT_ID:?is required: the Google Cloud project id}
GCP_PROJECT_NAME=${GCP_PROJECT_NAME:?is required: the Cloud Run service name}
DD_SERVICE=${DD_SERVICE:?is required: the service name in Datadog}
REPO_NAME=${REPO_NAME:?is required: the Artifact Registry repository}
DD_API_KEY=${DD_API_KEY:?is required: your Datadog API key}
DD_SITE=${DD_SITE:?is required: your Datadog site, e.g. datadoghq.com}
REGION=${REGION:-us-central1}
DD_ENV=${DD_ENV:-dev}
DD_VERSION=${DD_VERSION:-1.0.0}

IMAGE_NAME="${REGION}-docker.pkg.dev/${PROJECT_ID}/${REPO_NAME}/${GCP_PROJECT_NAME}:${DD_VERSION}"

# The Docker build context is the workspace root: the example builds against the workspace's crates.
cd "$(dirname "$0")/../.."

echo "====== Building Docker image ======"
docker build --platform linux/amd64 -f examples/sidecar/Dockerfile -t "${IMAGE_NAME}" .
gcloud auth configure-docker "${REGION}-docker.pkg.dev" --quiet
docker push "${IMAGE_NAME}"

# First deploy: the app container only, no Datadog yet.
echo "====== Deploying to Cloud Run ======"
gcloud run deploy "${GCP_PROJECT_NAME}" \
  --image="${IMAGE_NAME}" \
  --region="${REGION}" \
  --platform=managed \
  --allow-unauthenticated \
  --memory=1024Mi \
  --cpu=1 \
  --port=8080 \
  --update-labels="service=${DD_SERVICE}" \
  --project="${PROJECT_ID}"

# datadog-ci adds the serverless-init sidecar, the in-memory shared volume and its startup probe,
# and sets the Datadog variables (unified service tags included) on every container.
echo "====== Instrumenting with datadog-ci ======"
export DATADOG_API_KEY="${DD_API_KEY}"
export DATADOG_SITE="${DD_SITE}"

npx -y @datadog/datadog-ci cloud-run instrument \
  --project="${PROJECT_ID}" \
  --region="${REGION}" \
  --service="${GCP_PROJECT_NAME}" \
  --service-tag="${DD_SERVICE}" \
  --env="${DD_ENV}" \
  --version="${DD_VERSION}" \
  --sidecar-image=datadog/serverless-init:1

# As in Datadog's samples: the Datadog variables, explicitly, on the service's app container.
echo "====== Configuring Datadog environment variables ======"
gcloud run services update "${GCP_PROJECT_NAME}" \
  --region="${REGION}" \
  --update-env-vars="DD_API_KEY=${DD_API_KEY},DD_SITE=${DD_SITE},DD_SERVICE=${DD_SERVICE},DD_ENV=${DD_ENV},DD_VERSION=${DD_VERSION}"

echo "====== Deployment completed with SIDECAR ======"
