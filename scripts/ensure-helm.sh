#!/usr/bin/env bash
# Prints the path of a usable `helm` binary on stdout (and nothing else there).
#
# Order: `helm` already on PATH  ->  <repo>/.cache/bin/helm  ->  build it with `go install`
# into <repo>/.cache/bin (helm v3.22.0, falling back to v3.21.4, then helm v4.3.1).
# Idempotent: once built, later calls only stat the cached binary. All progress goes to stderr.
#
# Environment:
#   ODDPING_HELM_VERSIONS  space-separated module@version list to try instead of the defaults
#   GO                     go binary to use (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$repo/.cache/bin"
cached="$bindir/helm"

if command -v helm >/dev/null 2>&1 && helm version --short >/dev/null 2>&1; then
  command -v helm
  exit 0
fi
if [ -x "$cached" ] && "$cached" version --short >/dev/null 2>&1; then
  echo "$cached"
  exit 0
fi

go_bin="${GO:-}"
if [ -z "$go_bin" ]; then
  if command -v go >/dev/null 2>&1; then
    go_bin="$(command -v go)"
  elif [ -x /usr/local/go/bin/go ]; then
    go_bin=/usr/local/go/bin/go
  else
    echo "ensure-helm: neither helm nor go found; install helm (https://helm.sh/docs/intro/install/) or Go" >&2
    exit 1
  fi
fi

candidates=${ODDPING_HELM_VERSIONS:-"helm.sh/helm/v3/cmd/helm@v3.22.0 helm.sh/helm/v3/cmd/helm@v3.21.4 helm.sh/helm/v4/cmd/helm@v4.3.1"}
mkdir -p "$bindir"
# Serialise concurrent callers (parallel test workers) on one build.
exec 9>"$bindir/.helm.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -x "$cached" ] && "$cached" version --short >/dev/null 2>&1; then
  echo "$cached"
  exit 0
fi

for mod in $candidates; do
  echo "ensure-helm: building $mod with $("$go_bin" version) (first run only, a few minutes)..." >&2
  start=$(date +%s)
  # Stamp the version and the Kubernetes version the release builds carry (helm's Makefile does
  # this with -ldflags; a bare `go install` would report Kubernetes v1.20 to charts and lint).
  modpath="${mod%/cmd/helm@*}"
  ver="${mod##*@}"
  ldflags="-s -w -X $modpath/internal/version.version=$ver"
  gomod="$("$go_bin" mod download -json "$modpath@$ver" 2>/dev/null | sed -n 's/.*"GoMod": *"\(.*\)".*/\1/p' || true)"
  k8s_minor="$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9][0-9]*\)\..*#\1#p' "$gomod" 2>/dev/null | head -n 1 || true)"
  if [ -n "$k8s_minor" ]; then
    for pkg in pkg/lint/rules pkg/chartutil pkg/chart/common internal/version; do
      ldflags="$ldflags -X $modpath/$pkg.k8sVersionMajor=1 -X $modpath/$pkg.k8sVersionMinor=$k8s_minor"
    done
  fi
  if GOBIN="$bindir" CGO_ENABLED=0 "$go_bin" install -trimpath -ldflags "$ldflags" "$mod" >&2; then
    if [ -x "$cached" ] && "$cached" version --short >/dev/null 2>&1; then
      echo "ensure-helm: built $("$cached" version --short) in $(( $(date +%s) - start ))s -> $cached" >&2
      echo "$cached"
      exit 0
    fi
  fi
  echo "ensure-helm: $mod failed, trying the next candidate" >&2
done
echo "ensure-helm: could not build helm from any of: $candidates" >&2
exit 1
