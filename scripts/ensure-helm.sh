#!/usr/bin/env bash
# Prints the path of a usable `helm` binary on stdout (and nothing else there).
#
# Order: `helm` already on PATH  ->  <repo>/.cache/bin/helm  ->  build it with `go install`
# into <repo>/.cache/bin (helm v3.21.4, falling back to v3.22.0, then helm v4.3.1).
# Idempotent: once built, later calls only stat the cached binary. All progress goes to stderr.
#
# A fresh machine (Debian 12, no Go): helm's go.mod asks for Go 1.26, Debian 12's golang-go is 1.19
# and too old for GOTOOLCHAIN. So:
#   1. any Go at all fetches modules (as root with no Go, Debian's golang-go is installed for it);
#   2. the Go that helm's go.mod asks for (its `go` line, read at run time) is looked for on PATH,
#      in /usr/local/go and in <repo>/.cache/go;
#   3. when none is new enough, the Go toolchain is fetched as a module, the same zip that Go's own
#      GOTOOLCHAIN switch downloads (golang.org/toolchain@v0.0.1-<goversion>.<os>-<arch>), through
#      `go mod download` with the fetching Go's GOPROXY and checksum database, and unpacked into
#      <repo>/.cache/go/<goversion> (about 250 MB; ~10 s);
#   4. that Go builds helm. Nothing is downloaded from anywhere but the Go module proxy.
#
# Environment:
#   ODDPING_HELM_VERSIONS  space-separated module@version list to try instead of the defaults
#   ODDPING_GO_TOOLCHAIN   Go version fetched in step 3 (default go1.26.8)
#   GO                     go binary to use first (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$repo/.cache/bin"
cached="$bindir/helm"
gocache_root="$repo/.cache/go"
toolchain="${ODDPING_GO_TOOLCHAIN:-go1.26.8}"

if command -v helm >/dev/null 2>&1 && helm version --short >/dev/null 2>&1; then
  command -v helm
  exit 0
fi
if [ -x "$cached" ] && "$cached" version --short >/dev/null 2>&1; then
  echo "$cached"
  exit 0
fi

# Every Go binary we may use, best first; duplicates and broken ones are skipped by the callers.
go_candidates() {
  [ -n "${GO:-}" ] && echo "$GO"
  command -v go 2>/dev/null || true
  [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go
  ls -1d "$gocache_root"/go*/bin/go 2>/dev/null | sort -rV || true
}
# "1.26.8" from a go binary (`go env GOVERSION` exists since Go 1.16); empty when it does not run.
go_version() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9][0-9.]*\).*/\1/p'; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

fetch_go=""
for g in $(go_candidates); do
  if [ -n "$(go_version "$g")" ]; then fetch_go="$g"; break; fi
done
if [ -z "$fetch_go" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-helm: no Go found; installing Debian's golang-go to fetch modules with" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends golang-go >&2
    fetch_go="$(command -v go)"
  else
    echo "ensure-helm: neither helm nor go found; install helm (https://helm.sh/docs/intro/install/)" \
      "or any Go (Debian: apt-get install golang-go), then run this again" >&2
    exit 1
  fi
fi

# A Go at least $1 (e.g. 1.26.0): one found, or the toolchain module fetched into .cache/go.
builder_for() {
  local need="$1" g v
  for g in $(go_candidates); do
    v="$(go_version "$g")"
    if [ -n "$v" ] && version_ge "$v" "$need"; then echo "$g"; return 0; fi
  done
  v="${toolchain#go}"
  if ! version_ge "$v" "$need"; then
    echo "ensure-helm: helm needs Go >= $need but ODDPING_GO_TOOLCHAIN is $toolchain" >&2
    return 1
  fi
  local dest="$gocache_root/$toolchain" os arch tmp dir
  os="$("$fetch_go" env GOHOSTOS)"
  arch="$("$fetch_go" env GOHOSTARCH)"
  echo "ensure-helm: no Go >= $need here; fetching golang.org/toolchain@v0.0.1-$toolchain.$os-$arch" \
    "from GOPROXY ($("$fetch_go" env GOPROXY)) with $("$fetch_go" version)" >&2
  mkdir -p "$gocache_root"
  tmp="$(mktemp -d "$gocache_root/.fetch.XXXXXX")"
  # A private module cache: its files are read-only, and we move the unpacked tree out of it.
  dir="$(cd "$tmp" && GOMODCACHE="$tmp/mod" GOFLAGS=-modcacherw GO111MODULE=on \
    "$fetch_go" mod download -json "golang.org/toolchain@v0.0.1-$toolchain.$os-$arch" \
    | sed -n 's/.*"Dir": *"\(.*\)".*/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then
    echo "ensure-helm: could not fetch the $toolchain toolchain module" >&2
    chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"
    return 1
  fi
  chmod -R u+w "$dir"
  rm -rf "$dest"
  mv "$dir" "$dest"
  chmod -R u+w "$tmp"; rm -rf "$tmp"
  # Module zips carry no file modes; Go's own toolchain switch sets these same execute bits.
  chmod +x "$dest"/bin/* "$dest"/pkg/tool/*/*
  echo "ensure-helm: $("$dest/bin/go" version) -> $dest/bin/go" >&2
  echo "$dest/bin/go"
}

candidates=${ODDPING_HELM_VERSIONS:-"helm.sh/helm/v3/cmd/helm@v3.21.4 helm.sh/helm/v3/cmd/helm@v3.22.0 helm.sh/helm/v4/cmd/helm@v4.3.1"}
mkdir -p "$bindir"
# Serialise concurrent callers (parallel test workers) on one build.
exec 9>"$bindir/.helm.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -x "$cached" ] && "$cached" version --short >/dev/null 2>&1; then
  echo "$cached"
  exit 0
fi

for mod in $candidates; do
  start=$(date +%s)
  modpath="${mod%/cmd/helm@*}"
  ver="${mod##*@}"
  gomod="$(GO111MODULE=on "$fetch_go" mod download -json "$modpath@$ver" 2>/dev/null \
    | sed -n 's/.*"GoMod": *"\(.*\)".*/\1/p' || true)"
  need="$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$gomod" 2>/dev/null | head -n 1 || true)"
  if ! go_bin="$(builder_for "${need:-1.0}")"; then
    echo "ensure-helm: no Go for $mod, trying the next candidate" >&2
    continue
  fi
  echo "ensure-helm: building $mod with $("$go_bin" version) (first run only, a few minutes)..." >&2
  # Stamp the version and the Kubernetes version the release builds carry (helm's Makefile does
  # this with -ldflags; a bare `go install` would report Kubernetes v1.20 to charts and lint).
  ldflags="-s -w -X $modpath/internal/version.version=$ver"
  k8s_minor="$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9][0-9]*\)\..*#\1#p' "$gomod" 2>/dev/null | head -n 1 || true)"
  if [ -n "$k8s_minor" ]; then
    for pkg in pkg/lint/rules pkg/chartutil pkg/chart/common internal/version; do
      ldflags="$ldflags -X $modpath/$pkg.k8sVersionMajor=1 -X $modpath/$pkg.k8sVersionMinor=$k8s_minor"
    done
  fi
  # GOTOOLCHAIN=local: the Go chosen above builds; it must not switch itself on the way.
  if GOTOOLCHAIN=local GOBIN="$bindir" CGO_ENABLED=0 \
    "$go_bin" install -trimpath -ldflags "$ldflags" "$mod" >&2; then
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
