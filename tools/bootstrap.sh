#!/usr/bin/env bash
# Set up everything uniform needs on this machine, idempotently, then write
# .tools/env.sh for the caller to source.
#
#   tools/bootstrap.sh            engine + venv + file backend (the main job)
#   tools/bootstrap.sh --test     the same, plus the Debian packages the tests run
#
# Engine: a `pulumi` already on PATH at the pinned version or newer (compared
# as numbers) is used as it is: an official install builds nothing.  Otherwise
# tools/engine/build.sh builds it into .tools/bin, once: a stamp keyed on the
# pinned modules skips the build on later runs, and Go's module and build
# caches (~/go/pkg/mod, ~/.cache/go-build) make a rebuild after a pin change
# take seconds to minutes, not a cold build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PULUMI_VERSION=v3.259.0 # the oldest engine uniform runs on: the one tools/engine builds
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  # policy-rc.d stops packaged daemons (dnsmasq, kea, ...) from being started
  # by their postinst: the tests start their own instances where they need one.
  $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $sudo rm -f /usr/sbin/policy-rc.d
}
base_pkgs=(python3-venv)
if [ $want_test = 1 ]; then
  mapfile -t test_pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tools/debian-packages.txt)
  apt_install "${base_pkgs[@]}" "${test_pkgs[@]}"
else
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install "${base_pkgs[@]}"
fi

# --- Engine ----------------------------------------------------------------
# version_at_least HAVE MIN: "v3.260.1" >= "v3.259.0", compared field by field as
# numbers; a pre-release of MIN itself ("v3.259.0-alpha.1") or anything that is
# not vX.Y.Z[...] is not enough.
version_at_least() {
  local re='^v?([0-9]+)\.([0-9]+)\.([0-9]+)(.*)$' i
  local -a h m
  [[ $1 =~ $re ]] || return 1
  h=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}")
  [[ $2 =~ $re ]] || return 1
  m=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
  for i in 0 1 2; do
    ((10#${h[i]} > 10#${m[i]})) && return 0
    ((10#${h[i]} < 10#${m[i]})) && return 1
  done
  [[ -z ${h[3]} || ${h[3]} == +* ]] # equal: a release of MIN (or +build metadata), not a pre-release
}
bin="$root/.tools/bin"
engine_path=""
installed=""
if command -v pulumi >/dev/null 2>&1 && [ "$(command -v pulumi)" != "$bin/pulumi" ]; then
  installed=$(pulumi version 2>/dev/null || true)
fi
if [ -n "$installed" ] && version_at_least "$installed" "$PULUMI_VERSION"; then
  log "using the installed $(command -v pulumi) ($installed, at least $PULUMI_VERSION)"
else
  [ -n "$installed" ] && log "the installed $(command -v pulumi) is $installed, older than $PULUMI_VERSION: using .tools/bin"
  stamp_want=$(cat tools/engine/build.sh tools/engine/*/go.mod tools/engine/*/go.sum | sha256sum | cut -c1-16)
  if [ "$(cat "$bin/.stamp" 2>/dev/null)" != "$stamp_want" ]; then
    command -v go >/dev/null || { log "Go is needed to build the Pulumi engine (Debian: golang, or go.dev)"; exit 1; }
    log "building the Pulumi engine into .tools/bin (cold: ~5 min on 2 cores; cached afterwards)"
    start=$SECONDS
    tools/engine/build.sh "$bin" >&2
    echo "$stamp_want" > "$bin/.stamp"
    log "engine built in $((SECONDS - start))s"
  else
    log "engine up to date in .tools/bin ($(cat "$bin/.stamp"))"
  fi
  engine_path="$bin"
fi

# --- Python venv -----------------------------------------------------------
venv_want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat .venv/.stamp 2>/dev/null)" != "$venv_want" ]; then
  log "creating .venv (pulumi==3.259.0, pulumi-command==1.2.1, ...)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$venv_want" > .venv/.stamp
fi

# --- Backend and environment -----------------------------------------------
# The backend is the user's PULUMI_BACKEND_URL when one is set (a team's shared
# PostgreSQL, see README "A team"), decided when env.sh is sourced, not now.
# Only when none is set does env.sh choose the project-local file backend; it
# remembers that choice in UNIFORM_FILE_BACKEND, so sourcing another checkout's
# env.sh later moves to that checkout's file backend instead of keeping ours.
mkdir -p .pulumi-state .tools
home_line=""
if [ -n "$engine_path" ]; then
  # Pulumi >= 3.2xx writes a debug log of every command, property values
  # included, to $PULUMI_HOME/logs: measured at ~40% of the engine's CPU in a
  # no-change preview of 300 machines, and ~500 MB of logs in one day's tests.
  # A project-local PULUMI_HOME whose "logs" is a plain file turns it off
  # (the engine reports "automatic logging unavailable" at debug level only).
  # Only for the engine built here: an official install keeps the user's home.
  mkdir -p .tools/pulumi-home
  [ -d .tools/pulumi-home/logs ] && rm -rf .tools/pulumi-home/logs
  echo "automatic command logs disabled by tools/bootstrap.sh" > .tools/pulumi-home/logs
  home_line="export PULUMI_HOME=\"$root/.tools/pulumi-home\""
fi
cat > .tools/env.sh <<ENV
# Written by tools/bootstrap.sh: source it to run pulumi offline on this project.
$home_line
export PATH="$root/.venv/bin${engine_path:+:$engine_path}:\$PATH"
if [ -z "\${PULUMI_BACKEND_URL:-}" ] || [ "\$PULUMI_BACKEND_URL" = "\${UNIFORM_FILE_BACKEND:-}" ]; then
  export UNIFORM_FILE_BACKEND="file://$root/.pulumi-state"
  export PULUMI_BACKEND_URL="\$UNIFORM_FILE_BACKEND"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# the PostgreSQL backend's \`stack ls\` deadlocks with several listing workers (docs/team.md)
export PULUMI_DIY_BACKEND_PARALLEL="\${PULUMI_DIY_BACKEND_PARALLEL:-1}"
# one state write per up instead of one per step (quadratic on big changes); a run killed
# mid-way leaves the previous state, and rerunning it converges (docs/team.md "Crashes")
export PULUMI_SKIP_CHECKPOINTS="\${PULUMI_SKIP_CHECKPOINTS:-true}"
# the engine's soft memory limit (cli/stacks_run.py ENGINE_MEMORY_LIMIT, docs/scale.md)
export GOMEMLIMIT="\${GOMEMLIMIT:-1600MiB}"
ENV
if [ -n "${PULUMI_BACKEND_URL:-}" ] && [ "$PULUMI_BACKEND_URL" != "${UNIFORM_FILE_BACKEND:-}" ]; then
  # only the scheme: the URL may carry a password
  log "ready: source .tools/env.sh (it keeps your PULUMI_BACKEND_URL, ${PULUMI_BACKEND_URL%%://*}://...)"
  if [[ $PULUMI_BACKEND_URL =~ ^[a-z0-9+]+://[^/@]*:[^/@]*@ ]]; then
    log "warning: your PULUMI_BACKEND_URL carries a password, and pulumi prints the URL whole when the"
    log "  database cannot be reached: keep it in ~/.pgpass or PGPASSWORD instead (docs/team.md)"
  fi
else
  log "ready: source .tools/env.sh (file backend in .pulumi-state/ unless PULUMI_BACKEND_URL is set)"
fi
