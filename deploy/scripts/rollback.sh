#!/usr/bin/env bash
# Roll tubesum back to the image digest that install.sh replaced (/etc/tubesum/image.previous).
#
#   sudo deploy/scripts/rollback.sh [--db-downgrade REVISION] [--dry-run]
#
# A backup of the job store is taken first. The schema is left alone unless --db-downgrade REVISION is given:
# then `tubesum db downgrade REVISION` runs with the *current* (newer) image, which holds the downgrade
# scripts, before the old image starts. Only needed when the newer release added a migration the old one
# cannot run against; `tubesum db current` on the old image tells. Running it twice swaps back again.
set -euo pipefail

etc=/etc/tubesum
downgrade="" dry_run=0
while (($#)); do
  case $1 in
    --db-downgrade) downgrade=${2:?--db-downgrade needs a revision}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "rollback.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"

((dry_run)) || [[ $(id -u) -eq 0 ]] || die "run as root (sudo), or pass --dry-run"
if [[ -f $etc/image.env && -f $etc/image.previous ]]; then
  current=$(sed -n 's/^TUBESUM_IMAGE=//p' "$etc/image.env")
  previous=$(<"$etc/image.previous")
elif ((dry_run)); then
  current="<current image from $etc/image.env>" previous="<previous image from $etc/image.previous>"
else
  die "no previous image recorded in $etc/image.previous: nothing to roll back to"
fi
[[ $previous != "$current" ]] || die "the previous image is the current one ($current)"

step "backing up the job store before the rollback"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
run docker exec tubesum tubesum db backup "/data/backups/tubesum-pre-rollback-$stamp.backup"

if [[ -n $downgrade ]]; then
  step "downgrading the schema to $downgrade with the current image"
  run systemctl stop tubesum.service
  run docker run --rm --env-file "$etc/tubesum.env" --env TUBESUM_DATA_DIR=/data \
    --volume /var/lib/tubesum/data:/data "$current" db downgrade "$downgrade" --yes
fi

step "switching to $previous"
if ((dry_run)); then
  echo "+ write $etc/image.env (TUBESUM_IMAGE=$previous) and $etc/image.previous ($current)"
else
  sed -i "s#^TUBESUM_IMAGE=.*#TUBESUM_IMAGE=$previous#" "$etc/image.env"
  echo "$current" >"$etc/image.previous"
fi
run systemctl restart tubesum.service
run curl --fail --silent --retry 30 --retry-delay 2 --retry-all-errors --output /dev/null http://127.0.0.1:8000/healthz
step "rolled back to $previous (undo: run rollback.sh again)"
