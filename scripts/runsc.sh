#!/usr/bin/env bash
# gVisor for function containers (WORKER_OCI_RUNTIME=runsc): installs Debian's runsc and
# registers it with the Docker engine as the runtime "runsc", then reloads dockerd (SIGHUP,
# running containers are not touched). Idempotent; needs root and a running dockerd.
#
#   --platform=ptrace  works without KVM and inside VMs (slower than kvm; see README)
#   --network=none     gVisor gets no network: networked functions are refused under runsc
#   --oci-seccomp      the platform's seccomp profile applies inside the sandbox too
set -euo pipefail

DAEMON_JSON=/etc/docker/daemon.json
ARGS='["--platform=ptrace","--network=none","--oci-seccomp"]'

say() { printf '%-10s %s\n' "$1:" "$2"; }

if ((EUID != 0)); then
  echo "runsc.sh: run as root (it installs a package and edits $DAEMON_JSON)" >&2
  exit 1
fi
if ! command -v runsc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends runsc >/tmp/runsc-apt.log 2>&1 ||
    { apt-get -q update >>/tmp/runsc-apt.log 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends runsc >>/tmp/runsc-apt.log 2>&1; } ||
    { echo "runsc.sh: apt-get install runsc failed (see /tmp/runsc-apt.log)" >&2; exit 1; }
  say runsc "installed ($(runsc --version | head -1))"
fi

mkdir -p "$(dirname "$DAEMON_JSON")"
current=$(cat "$DAEMON_JSON" 2>/dev/null || echo '{}')
[[ -n $current ]] || current='{}'
wanted=$(jq --argjson args "$ARGS" '.runtimes.runsc = {path: "/usr/bin/runsc", runtimeArgs: $args}' <<<"$current")
if [[ $(jq -S . <<<"$current") != $(jq -S . <<<"$wanted") ]]; then
  printf '%s\n' "$wanted" >"$DAEMON_JSON"
  say docker "runtime runsc registered in $DAEMON_JSON"
fi

pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
  echo "runsc.sh: dockerd is not running (make services)" >&2
  exit 1
fi
if ! docker info --format '{{json .Runtimes}}' | jq -e '.runsc' >/dev/null; then
  kill -HUP "$pid"
  for _ in $(seq 1 50); do
    docker info --format '{{json .Runtimes}}' | jq -e '.runsc' >/dev/null && break
    sleep 0.1
  done
fi
docker info --format '{{json .Runtimes}}' | jq -e '.runsc.runtimeArgs | index("--oci-seccomp")' >/dev/null || {
  kill -HUP "$pid"
  sleep 1
}
docker info --format '{{json .Runtimes}}' | jq -e '.runsc' >/dev/null ||
  { echo "runsc.sh: dockerd did not pick up the runsc runtime" >&2; exit 1; }
say runsc "ready: WORKER_OCI_RUNTIME=runsc runs function containers under gVisor"
