# Helpers shared by install.sh and rollback.sh (sourced, not run). Both set dry_run=0|1 before calling run.
# shellcheck shell=bash

die() { echo "${0##*/}: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
# Run a command, or print it under --dry-run.
run() {
  if ((${dry_run:-0})); then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
