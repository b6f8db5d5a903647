#!/bin/bash
# Entrypoint of the runner image: registers the agent under its fixed name, runs one job, keeps the credential from jobs.
# Modes: all (default: register, run one job), register (into AZP_CONFIG_DIR), run (from AZP_CONFIG_DIR, or registered by
# the in-cluster autoscaler with AZP_REGISTRATION=autoscaler), retire, recycle (a sidecar that deletes its own pod once
# the agent has run its job: fresh pod per job on older clusters), autoscaler (the pool's in-cluster autoscaler),
# docker-proxy (dockerMode hostSocket's sidecar: the node's Docker engine for the job, and the cleanup after it),
# share-externals DIR (the init container of dockerMode podContainers and dind: the agent's externals for the job
# containers).
# The image starts it as `init -- bash start.sh MODE` from execute-only copies of tini and bash, so neither PID 1
# nor this shell is dumpable and a job step (same uid) can't read their environment or memory. docker/README.md.
# What needs no credential is typed code (runner/, bundled as runner.js), run on the agent's own Node.
set -euo pipefail

readonly agent_dir=/azp/agent
readonly runner=/usr/local/lib/azp/runner.js # runner/main.ts, bundled
readonly shim_dir=/usr/local/lib/azp/bin # runner/bin/docker: dockerMode podContainers' `docker`
readonly scratch_dirs=(/tmp /var/tmp /run/lock /dev/shm) # emptied of the agent user's files before each run
# EX_CONFIG: a setting is wrong, or anything else failed before the agent ran. The only exit code that restarts the
# agent container in its pod (src/core/manifests/runner-pod.ts): never used once the agent has started, because a job
# chooses how its agent ends, and a pod whose agent ran must never run another.
readonly config_error=78
readonly secret_names=AZP_TOKEN,AZP_TOKEN_FILE,AZP_CLIENT_ID,AZP_TENANT_ID,AZP_CLIENT_SECRET,AZP_CLIENT_SECRET_FILE

log() { echo "start.sh: $*"; }
fail() {
  echo "start.sh: error: $*" >&2
  exit "$config_error"
}

# Take the credential settings out of the environment first: every child from here on starts without them.
token=${AZP_TOKEN:-}
token_file=${AZP_TOKEN_FILE:-}
client_id=${AZP_CLIENT_ID:-}
tenant_id=${AZP_TENANT_ID:-}
client_secret=${AZP_CLIENT_SECRET:-}
client_secret_file=${AZP_CLIENT_SECRET_FILE:-}
unset AZP_TOKEN AZP_TOKEN_FILE AZP_CLIENT_ID AZP_TENANT_ID AZP_CLIENT_SECRET AZP_CLIENT_SECRET_FILE
# The agent also reads any flag from VSTS_AGENT_INPUT_*; only this script passes those, and only to config.sh.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^VSTS_AGENT_INPUT_' || true)

mode=${1:-all}
case $mode in
  all | register | run | retire | recycle | autoscaler | docker-proxy | share-externals) ;;
  *) fail "unknown mode '$mode' (expected all, register, run, retire, recycle, autoscaler, docker-proxy or share-externals)" ;;
esac

[ "$(id -u)" != 0 ] || fail "running as root: job steps could read the credential; run as the image's user (10001)"

# The newest Node the agent package ships (externals/node20_1, node24, …; plain node: version 0), which runs runner.js.
agent_node() {
  local node version newest
  newest=$(for node in "$agent_dir"/externals/node*/bin/node; do
    [ -x "$node" ] || continue
    version=${node#"$agent_dir/externals/node"}
    version=${version%%/*}
    echo "${version:-0} $node"
  done | sort -V | tail -n 1)
  [ -n "$newest" ] || fail "no Node.js under $agent_dir/externals (node*/bin/node): is $agent_dir an agent package?"
  echo "${newest#* }"
}

# --- modes without the agent's credential -------------------------------------------------------------------------
# Each is a program of its own on the agent's Node: the pool's in-cluster autoscaler (autoscaler/DESIGN.md, settings
# from its Deployment); hostSocket's sidecar, the only container with the node's Docker socket (runner/docker-proxy.ts);
# the recycle sidecar that deletes its own pod once the agent has run its job, with only its own Kubernetes token
# (runner/recycle.ts); and the init container of the modes that run container jobs, which copies the agent's externals
# into the pod's volume with runner.js and a link to the newest Node (runner/share-externals.ts).
share_externals() {
  local node
  node=$(agent_node)
  exec "$node" "$runner" share-externals "$agent_dir/externals" "$node" "$1"
}
node=$(agent_node)
case $mode in
  autoscaler) exec "$node" /usr/local/lib/azp/autoscaler.js ;;
  docker-proxy) exec "$node" "$runner" docker-proxy ;;
  recycle) exec "$node" "$runner" recycle ;;
  share-externals) share_externals "${2:-}" ;;
esac

# --- settings -----------------------------------------------------------------------------------------------------
# Defaults and checks are runner.js's (runner/start-settings.ts, shared with start.ps1): it is told which credential
# settings are set, never their values, and prints each setting as one NAME=value line.
credentials_set=()
[ -z "$token" ] || credentials_set+=(AZP_TOKEN)
[ -z "$token_file" ] || credentials_set+=(AZP_TOKEN_FILE)
[ -z "$client_id" ] || credentials_set+=(AZP_CLIENT_ID)
[ -z "$tenant_id" ] || credentials_set+=(AZP_TENANT_ID)
[ -z "$client_secret" ] || credentials_set+=(AZP_CLIENT_SECRET)
[ -z "$client_secret_file" ] || credentials_set+=(AZP_CLIENT_SECRET_FILE)
settings=$("$node" "$runner" settings "$mode" "${credentials_set[@]}") || exit "$config_error"
auth=none
# Sets each setting from runner.js settings' NAME=value lines: the value is all after the first '=' (read's field
# splitting would drop a trailing one, and IFS= keeps its spaces), and only the names it may print are set.
read_settings() {
  local line name value
  while IFS= read -r line; do
    name=${line%%=*}
    value=${line#*=}
    [ "$name" != "$line" ] || fail "runner.js settings printed '$line', which is no NAME=value line"
    case $name in
      AZP_URL | AZP_POOL | AZP_AGENT_NAME | AZP_WORK | AZP_REMOVE_ON_EXIT | AZP_CONFIG_DIR | AZP_REGISTRATION | AZP_RECYCLE_DIR | auth)
        printf -v "$name" '%s' "$value"
        ;;
      *) fail "runner.js settings printed '$name', which is no setting" ;;
    esac
  done <<<"$1"
}
read_settings "$settings"

# Reads a secret file, then makes sure a job can't read it later (all mode runs jobs in this container).
read_secret_file() {
  local setting=$1 path=$2 value
  [ -f "$path" ] && [ -r "$path" ] || fail "$setting='$path' is not a readable file"
  value=$(<"$path")
  value=${value//[$'\r\n\t ']/}
  [ -n "$value" ] || fail "$setting='$path' is empty"
  if [ "$mode" = all ]; then
    rm -f "$path" 2>/dev/null || true
    [ ! -e "$path" ] || fail "$setting='$path' can't be deleted after use, so job steps could read it: in the default" \
      "mode pass the secret in a deletable file or as an environment variable, or run the register and run modes" \
      "in separate containers"
  fi
  printf '%s' "$value"
}

# The secret files, once the settings are known to be right.
[ -z "$token_file" ] || token=$(read_secret_file AZP_TOKEN_FILE "$token_file")
[ -z "$client_secret_file" ] || client_secret=$(read_secret_file AZP_CLIENT_SECRET_FILE "$client_secret_file")

# --- child processes and signals ----------------------------------------------------------------------------------
# Whatever takes time runs as a background child that this script waits for: bash runs a trap only once a foreground
# command has returned, but it interrupts a `wait` at once.
stage=setup # setup: before runner.js run; agent: runner.js run runs; after: what follows it
agent=0     # runner.js run's pid
stopping=false
# runner.js run's word (SIGUSR2) just before it starts the agent. It is dumpable: once a job ran, that job may have
# traced it and chosen its exit code, so the code is mapped here, in the process a job can't trace.
agent_ran=false
trap 'agent_ran=true' USR2

# A stop before runner.js run: nothing begun is worth finishing. Each child is told to end (config.sh's session whole:
# setsid made its pid its group) and the script exits at once; the container ends with it (tini is PID 1), and with
# the container whatever is left of its processes. A registration the step leaves is retired by the autoscaler once
# this pod has gone (src/core/single-use.ts), or kept, as docker/README.md says.
end_setup() {
  local pid
  for pid in $(jobs -pr); do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  exit 143
}

# SIGTERM/SIGINT, at any moment. Once runner.js run runs, it gets the signal: before the agent it ends at once; once
# the agent runs, it passes the signal to the listener only (idle, the agent ends at once; during a job it cancels the
# job; the job's processes are the agent's to stop). After the agent, what must follow it (the registration's
# removal) still runs, then the script exits 143.
on_signal() {
  stopping=true
  # runner.js run first: the sooner it knows, the less likely it starts the agent meanwhile.
  [ "$stage" != agent ] || kill -TERM "$agent" 2>/dev/null || true
  log "stopping"
  [ "$stage" != setup ] || end_setup
}
trap on_signal TERM INT

# Waits for a background child, through any trapped signal; returns its exit code.
wait_for() {
  local rc
  while :; do
    wait "$1" && rc=0 || rc=$?
    kill -0 "$1" 2>/dev/null || break # else a trapped signal interrupted the wait
  done
  return "$rc"
}

# Runs a command in the background and waits for it, so that a stop signal is acted on while it runs.
run_child() {
  "$@" &
  wait_for $!
}

# --- steps --------------------------------------------------------------------------------------------------------
# Removes what an earlier run left in this container's filesystem (Docker restarts a container in place): this user's
# files in the agent root and the scratch dirs, the work folder, $HOME (back to /etc/skel); runner.js
# (runner/clean-slate.ts, shared with start.ps1). Run as a child: a large work folder must not hold a stop signal back.
clean_slate() {
  run_child "$node" "$runner" clean-slate --agent-dir "$agent_dir" --work "$AZP_WORK" --home "$HOME" --skel /etc/skel \
    "${scratch_dirs[@]}" || exit "$config_error"
}

# Runs config.sh with the credential in its environment only (the agent takes --token/--clientSecret from there),
# in a session of its own (setsid: same pid), so that a stop signal reaches config.sh and everything it started. It
# sees the agent's environment: the capabilities it registers are those the agent's session will report.
config_with_credential() {
  local args=("$@")
  if [ "$auth" = pat ]; then
    VSTS_AGENT_INPUT_TOKEN=$token run_child setsid "${agent_env[@]}" ./config.sh "${args[@]}" --auth pat
  else
    VSTS_AGENT_INPUT_CLIENTSECRET=$client_secret run_child setsid "${agent_env[@]}" ./config.sh "${args[@]}" --auth SP \
      --clientId "$client_id" --tenantId "$tenant_id"
  fi
}

register() {
  log "registering agent '$AZP_AGENT_NAME' in pool '$AZP_POOL' at $AZP_URL"
  config_with_credential --unattended --url "$AZP_URL" --pool "$AZP_POOL" --agent "$AZP_AGENT_NAME" \
    --work "$AZP_WORK" --replace --acceptTeeEula || {
    local rc=$?
    echo "start.sh: error: registration failed (config.sh exited $rc)" >&2
    exit "$rc"
  }
}

# The agent's settings files (those config.sh wrote) into AZP_CONFIG_DIR, for run mode: runner/agent-settings.ts.
save_settings() { "$node" "$runner" save-registration "$agent_dir" "$AZP_CONFIG_DIR" || exit "$config_error"; }

remove_registration() {
  local attempt
  for attempt in 1 2 3 4 5; do
    log "removing agent '$AZP_AGENT_NAME' from pool '$AZP_POOL' (attempt $attempt)"
    if config_with_credential remove --unattended; then return 0; fi
    sleep 10
  done
  echo "start.sh: error: could not remove the agent registration" >&2
  return 1
}

# dockerMode podContainers (the manifest sets AZP_POD_CONTAINERS): the agent's `docker` is the shim that maps its
# container jobs onto the pod's offered containers, first on whatever PATH the image (or one derived from it) set; the
# setting and the tool folder the pod shares are the runner's bookkeeping, not capabilities; so is the recycle
# sidecar's folder.
ignored_names() {
  local names=$secret_names,AZP_RECYCLE_DIR
  if [ -n "${AZP_POD_CONTAINERS:-}" ]; then echo "$names,AZP_POD_CONTAINERS,AGENT_TOOLSDIRECTORY"; else echo "$names"; fi
}
[ -z "${AZP_POD_CONTAINERS:-}" ] || PATH=$shim_dir:$PATH

# The environment the agent runs in, and scans for its capabilities. agent.disableupdate: the agent ignores update
# requests (the image pins the agent; an update would use up --once).
agent_env=(env "agent.disableupdate=true" "VSO_AGENT_IGNORE=${VSO_AGENT_IGNORE:+$VSO_AGENT_IGNORE,}$(ignored_names)")

# The agent ran: whatever it exited with, this pod is done, and a job may have chosen the code. 78 is the one code
# the container restarts on in place (the pod's restart rule), so it becomes 1.
exit_code_after_agent() { if [ "$1" = "$config_error" ]; then echo 1; else echo "$1"; fi; }

# The agent's one run: runner.js run (runner/run.ts) takes its registration in run mode (the handshake with the
# in-cluster autoscaler, or the one register mode saved), asks the recycle sidecar whether it may start, runs the
# agent and hands the pod to the sidecar; it exits with the agent's code. It holds no credential. Once it runs, a
# stop goes to it: it ends its steps, or has the agent stopped.
run_agent() {
  local registration=saved # run mode: register mode saved it in AZP_CONFIG_DIR
  [ "$AZP_REGISTRATION" != autoscaler ] || registration=autoscaler
  [ "$mode" != all ] || registration=registered # by config.sh, just now
  "$node" "$runner" run --agent-dir "$agent_dir" --agent-name "$AZP_AGENT_NAME" --registration "$registration" \
    --config-dir "$AZP_CONFIG_DIR" --recycle-dir "$AZP_RECYCLE_DIR" --notify $$ -- "${agent_env[@]}" &
  agent=$!
  stage=agent
  local rc=0
  wait_for "$agent" || rc=$?
  stage=after
  if $agent_ran; then rc=$(exit_code_after_agent "$rc"); fi
  return "$rc"
}

# Ends whatever a job left running before the credential is used again. Only when our init is PID 1 (a private PID
# namespace): with a shared one, kill -1 would reach other containers' processes.
end_leftovers() {
  [ "$PPID" != 1 ] || kill -KILL -1 2>/dev/null || true
}

cd "$agent_dir"
case $mode in
  register)
    clean_slate
    register
    save_settings
    log "registration saved in $AZP_CONFIG_DIR"
    ;;
  retire)
    clean_slate
    register
    remove_registration
    ;;
  run)
    clean_slate
    rc=0
    run_agent || rc=$?
    # After a stop 143, whatever runner.js ended with (a step failing as the stop came: 78 would restart this
    # container); but 0 when the job was done and the stop ended the wait for the recycle sidecar.
    if $stopping && [ "$rc" != 0 ]; then exit 143; fi
    exit "$rc"
    ;;
  all)
    clean_slate
    register
    rc=0
    run_agent || rc=$?
    if [ "$AZP_REMOVE_ON_EXIT" = true ]; then
      end_leftovers
      remove_registration || rc=1
    fi
    if $stopping; then exit 143; fi
    exit "$rc"
    ;;
esac
