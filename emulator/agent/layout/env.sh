#!/bin/bash
# Agent double: records PATH and selected variables into .path and .env, as the real agent's env.sh does.
root="$(cd "$(dirname "$0")" && pwd)"
printf '%s\n' "$PATH" > "$root/.path"
: > "$root/.env"
for name in LANG JAVA_HOME ANT_HOME M2_HOME ANDROID_HOME GRADLE_HOME NVM_BIN NVM_PATH VSO_AGENT_IGNORE; do
  if [ -n "${!name}" ]; then printf '%s=%s\n' "$name" "${!name}" >> "$root/.env"; fi
done
