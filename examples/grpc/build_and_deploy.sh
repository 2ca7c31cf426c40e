#!/usr/bin/env bash
# Builds the gRPC sample (the tonic server and serverless-init in one image), pushes it to
# Artifact Registry and deploys it to Cloud Run with end-to-end HTTP/2, which gRPC needs.
#
# Required: PROJECT_ID, GCP_PROJECT_NAME (Cloud Run service name), DD_SERVICE, REPO_NAME
# (Artifact Registry repository), DD_API_KEY.
# Optional: DD_SITE (datadoghq.com), REGION (us-central1), DD_ENV (dev), DD_VERSION (latest).
set -euo pipefail

PROJECT_ID=${PROJECT_ID:?is required: the Google Cloud project id}
GCP_PROJECT_NAME=${GCP_PROJECT_NAME:?is required: the Cloud Run service name}
DD_SERVICE=${DD_SERVICE:?is required: the service name in Datadog}
REPO_NAME=${REPO_NAME:?is required: the Artifact Registry repository}
DD_API_KEY=${DD_API_KEY:?is required: your Datadog API key}
DD_SITE=${DD_SITE:-datadoghq.com}
REGION=${REGION:-us-central1}
DD_ENV=${DD_ENV:-dev}
DD_VERSION=${DD_VERSION:-latest}

IMAGE_NAME="${REGION}-docker.pkg.dev/${PROJECT_ID}/${REPO_NAME}/${GCP_PROJECT_NAME}:${DD_VERSION}"

# The Docker build context is the workspace root: the example builds against the workspace's crates.
cd "$(dirname "$0")/../.."

echo "====== Building Docker image ======"
docker build --platform linux/amd64 --build-arg "DD_SERVICE=${DD_SERVICE}" \
  -f examples/grpc/Dockerfile -t "${IMAGE_NAME}" .
gcloud auth configure-docker "${REGION}-docker.pkg.dev" --quiet
docker push "${IMAGE_NAME}"

# --use-http2: Cloud Run forwards h2c to the container, as tonic serves it.
echo "====== Deploying to Cloud Run ======"
gcloud run deploy "${GCP_PROJECT_NAME}" \
  --image="${IMAGE_NAME}" \
  --region="${REGION}" \
  --platform=managed \
  --allow-unauthenticated \
  --use-http2 \
  --memory=1024Mi \
  --cpu=1 \
  --port=8080 \
  --set-env-vars="DD_API_KEY=${DD_API_KEY},DD_SITE=${DD_SITE},DD_ENV=${DD_ENV},DD_VERSION=${DD_VERSION}" \
  --update-labels="service=${DD_SERVICE},env=${DD_ENV}" \
  --project="${PROJECT_ID}"

echo "====== Deployment completed ======"
