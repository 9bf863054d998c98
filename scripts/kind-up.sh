#!/usr/bin/env bash
# Create a local kind cluster with grpo-operator installed, and start a GRPOJob in it.
#
#   scripts/kind-up.sh                      # CPU cluster, TRL engine, examples/local-cpu.yaml
#   EXAMPLE=examples/minimal.yaml GPU=1 scripts/kind-up.sh   # GPU cluster via nvkind (see README)
#   MONITORING=1 scripts/kind-up.sh         # also kube-prometheus-stack + the chart's monitoring objects
#
# Steps: create the cluster (kind, or nvkind with GPU=1) -> docker build the operator and trainer images ->
# kind load them -> helm install charts/grpo-operator -> kubectl apply the example.
# Needs: docker, kind (or nvkind), helm and kubectl (from PATH or ./.tools/bin, see scripts/install-tools.sh).
#
# Environment:
#   CLUSTER=grpo                 kind cluster name
#   NAMESPACE=grpo-system        namespace of the operator release
#   EXAMPLE=examples/local-cpu.yaml  GRPOJob manifest to apply ("" to apply nothing)
#   TAG=dev                      tag of the locally built images (grpo-operator:TAG, grpo-trainer:TAG)
#   TRAINER_IMAGE=               use this prebuilt trainer image instead of building images/trainer (large: it
#                                is based on verl's CUDA image, ~20 GB)
#   GPU=0|1                      1: create the cluster with nvkind and install NVIDIA's device plugin
#   MONITORING=0|1               1: install kube-prometheus-stack (release "kps") and enable the chart's
#                                ServiceMonitor, PodMonitor, PrometheusRule and Grafana dashboard
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$PATH"

CLUSTER="${CLUSTER:-grpo}"
NAMESPACE="${NAMESPACE:-grpo-system}"
EXAMPLE="${EXAMPLE-examples/local-cpu.yaml}"
TAG="${TAG:-dev}"
TRAINER_IMAGE="${TRAINER_IMAGE:-}"
GPU="${GPU:-0}"
MONITORING="${MONITORING:-0}"
OPERATOR_IMAGE="grpo-operator:${TAG}"

log() { echo "kind-up: $*" >&2; }
die() { log "error: $*"; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' not found. $2"; }

need docker "Install Docker: https://docs.docker.com/get-docker/"
need helm "Run scripts/install-tools.sh (puts helm in ./.tools/bin)."
need kubectl "Run scripts/install-tools.sh (puts kubectl in ./.tools/bin)."
need kind "Install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
if [[ "$GPU" == "1" ]]; then
  need nvkind "Install nvkind: go install github.com/NVIDIA/nvkind/cmd/nvkind@latest (see README, GPU kind)."
fi
[[ -z "$EXAMPLE" || -f "$EXAMPLE" ]] || die "EXAMPLE=$EXAMPLE does not exist (try examples/local-cpu.yaml)"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is it running? are you in the docker group?)"

# 1. Cluster.
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "cluster '$CLUSTER' exists; reusing it"
elif [[ "$GPU" == "1" ]]; then
  log "creating GPU cluster '$CLUSTER' with nvkind (one worker with all GPUs)"
  nvkind cluster create --name "$CLUSTER"
else
  log "creating cluster '$CLUSTER' from kind-config.yaml"
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
fi
CONTEXT="kind-$CLUSTER"
KUBECTL=(kubectl --context "$CONTEXT")
HELM=(helm --kube-context "$CONTEXT")

if [[ "$GPU" == "1" ]]; then
  log "installing NVIDIA's k8s-device-plugin (nvidia.com/gpu resources)"
  helm repo add nvdp https://nvidia.github.io/k8s-device-plugin >/dev/null
  helm repo update nvdp >/dev/null
  "${HELM[@]}" upgrade --install nvidia-device-plugin nvdp/nvidia-device-plugin \
    --namespace nvidia --create-namespace --wait
fi

# 2. Images.
log "building $OPERATOR_IMAGE"
docker build -f images/operator/Dockerfile -t "$OPERATOR_IMAGE" .
if [[ -z "$TRAINER_IMAGE" ]]; then
  TRAINER_IMAGE="grpo-trainer:${TAG}"
  log "building $TRAINER_IMAGE (verl CUDA base image: large, first build takes a while)"
  docker build -f images/trainer/Dockerfile -t "$TRAINER_IMAGE" .
fi
log "loading images into kind"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE"
kind load docker-image --name "$CLUSTER" "$TRAINER_IMAGE"

# 3. Monitoring stack (optional).
CHART_ARGS=()
if [[ "$MONITORING" == "1" ]]; then
  log "installing kube-prometheus-stack (release kps, namespace monitoring)"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
  helm repo update prometheus-community >/dev/null
  # kube_pod_labels with the grpo.dev/grpojob label: the dashboard's GPU panels use it for Ray worker pods.
  KPS_VALUES="$(mktemp)"
  cat >"$KPS_VALUES" <<'YAML'
grafana:
  sidecar:
    dashboards:
      enabled: true
      searchNamespace: ALL
kube-state-metrics:
  metricLabelsAllowlist:
    - pods=[grpo.dev/grpojob]
YAML
  "${HELM[@]}" upgrade --install kps prometheus-community/kube-prometheus-stack \
    --namespace monitoring --create-namespace --wait --timeout 10m --values "$KPS_VALUES"
  rm -f "$KPS_VALUES"
  CHART_ARGS+=(
    --set monitoring.additionalLabels.release=kps
    --set monitoring.serviceMonitor.enabled=true
    --set monitoring.podMonitor.enabled=true
    --set monitoring.prometheusRule.enabled=true
    --set monitoring.grafanaDashboard.enabled=true
  )
fi

# 4. The operator.
log "installing charts/grpo-operator into $NAMESPACE"
TRAINER_REPO="${TRAINER_IMAGE%:*}"
TRAINER_TAG="${TRAINER_IMAGE##*:}"
"${HELM[@]}" upgrade --install grpo charts/grpo-operator \
  --namespace "$NAMESPACE" --create-namespace --wait --timeout 5m \
  --set image.repository=grpo-operator --set image.tag="$TAG" --set image.pullPolicy=Never \
  --set trainer.image.repository="$TRAINER_REPO" --set trainer.image.tag="$TRAINER_TAG" \
  ${CHART_ARGS[@]+"${CHART_ARGS[@]}"}
"${KUBECTL[@]}" -n "$NAMESPACE" rollout status deployment/grpo-grpo-operator --timeout=180s

# 5. A GRPOJob.
if [[ -n "$EXAMPLE" ]]; then
  log "applying $EXAMPLE"
  "${KUBECTL[@]}" apply -f "$EXAMPLE"
fi

cat >&2 <<MSG

kind-up: done. Cluster context: $CONTEXT
  kubectl --context $CONTEXT get grpo -w
  kubectl --context $CONTEXT logs -f -l grpo.dev/grpojob --all-containers
  kubectl --context $CONTEXT port-forward <trainer-pod> 9400   # then curl localhost:9400/metrics
MSG
if [[ "$MONITORING" == "1" ]]; then
  cat >&2 <<MSG
  kubectl --context $CONTEXT -n monitoring port-forward svc/kps-grafana 3000:80   # dashboard "GRPO training"
  (Grafana admin password: kubectl --context $CONTEXT -n monitoring get secret kps-grafana -o jsonpath='{.data.admin-password}' | base64 -d)
MSG
fi
echo "Delete with: kind delete cluster --name $CLUSTER" >&2
