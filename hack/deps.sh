#!/usr/bin/env bash
# The Debian packages `make test` needs (and `make demo`'s build), in one place: `make deps` (which `make test`
# runs first) and .ci/run use it. Nothing missing: silent. Missing, as root (or with INSTALL=1 and sudo): installed
# with apt-get. Missing otherwise: one message naming them and the command that installs them, exit 1 -- never a
# test that skips in one place and errors in another.
set -euo pipefail
uid=${DEPS_AS_UID:-$(id -u)}  # the tests ask as another user would

need=()
command -v make >/dev/null || need+=(make)
command -v openssl >/dev/null || need+=(openssl)
command -v git >/dev/null || need+=(git)
# the docs' command examples are run as written (tests/unit/test_docs_examples.py): they pipe through curl and yq
command -v curl >/dev/null || need+=(curl)
command -v yq >/dev/null || need+=(yq)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# Debian's Prometheus: promtool and prometheus are the oracles of the Prometheus-semantics tests
command -v promtool >/dev/null || need+=(prometheus)
# Debian's Chromium: the web UI's browser tests drive it over the DevTools protocol
command -v chromium >/dev/null || need+=(chromium)
# Go builds the control plane, the oracles, Helm and the Collector from the module proxy (Debian's is too old for
# route 1; hack/localcluster.py then falls back to route 2, Kubernetes 1.20)
command -v go >/dev/null || need+=(golang-go)
# the real node (hack/realnode.py, tests/integration/test_real_node.py) needs root: only then its packages too
# (containerd + runc, the CNI bridge plugin, podman to build the images, mmdebstrap for their Debian base)
if [ "$uid" = 0 ]; then
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v podman >/dev/null || need+=(podman conmon)
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
  # `make upstream-e2e NODE=1` (hack/deps.sh upstream-e2e): the tests' :latest images come from a local registry
  if [ "${1:-}" = upstream-e2e ]; then command -v docker-registry >/dev/null || need+=(docker-registry); fi
fi

[ ${#need[@]} -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${need[@]}")
if [ "$uid" = 0 ]; then
  sudo=()
elif [ "${INSTALL:-}" = 1 ] && command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "make test needs these Debian packages, which are missing: ${need[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  echo "(or run 'make test INSTALL=1' to let it use sudo; as root it installs them itself)" >&2
  exit 1
fi
echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" "${install[@]}"
