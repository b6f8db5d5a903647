#!/bin/bash
# Agent double: runs the listener (same entry point as the real agent's run.sh).
root="$(cd "$(dirname "$0")" && pwd)"
exec "$root/bin/Agent.Listener" run "$@"
