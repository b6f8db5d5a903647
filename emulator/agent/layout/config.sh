#!/bin/bash
# Agent double: configures or removes the agent (same entry point as the real agent's config.sh).
set -e
root="$(cd "$(dirname "$0")" && pwd)"
if [ "$1" = "remove" ]; then shift; exec "$root/bin/Agent.Listener" remove "$@"; fi
exec "$root/bin/Agent.Listener" configure "$@"
