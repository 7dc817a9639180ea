#!/bin/sh
# Start tubesum in a Hugging Face Space: state on the persistent /data when the Space has it, else in $HOME
# (lost on restart); an API key is created on first start unless TUBESUM_AUTH_DISABLED=true.
set -eu

state="${TUBESUM_SPACE_STORAGE:-/data}/tubesum"   # HF mounts persistent storage at /data
if ! mkdir -p "$state" 2>/dev/null || [ ! -w "$state" ]; then
  state="$HOME/state"
  echo "tubesum-space: no persistent storage at /data; jobs and keys are lost when the Space restarts" >&2
fi
mkdir -p "$state/work" "$state/huggingface"
export TUBESUM_DATA_DIR="$state" TUBESUM_WORK_DIR="$state/work" HF_HOME="$state/huggingface"

tubesum db upgrade
if [ "${TUBESUM_AUTH_DISABLED:-false}" != "true" ] && [ "$(tubesum keys list --json)" = "[]" ]; then
  echo "tubesum-space: first start, creating an API key (shown once, here in the Space's logs):" >&2
  tubesum keys create --name space >&2
fi
exec tubesum serve --host 0.0.0.0 --port "${TUBESUM_PORT:-7860}"
