#!/usr/bin/env bash
# Install or update tubesum on a (GPU) VM: container image pinned by digest, systemd unit, nginx, TLS, backups.
# Idempotent: run it again with a new digest to update; the previous digest is kept for rollback.sh.
#
#   sudo deploy/scripts/install.sh --image ghcr.io/tubesum/tubesum@sha256:<64 hex> [--gpu]
#        [--domain tubesum.example.com --email ops@example.com] [--dry-run]
#
# --dry-run prints every step it would take (as "+ command" lines) and changes nothing; it needs no root.
# docs/deploy-vm.md walks through it.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image="" gpu=0 domain="" email="" dry_run=0
etc=/etc/tubesum
state=/var/lib/tubesum
health_url=http://127.0.0.1:8000/healthz

while (($#)); do
  case $1 in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --domain) domain=${2:?--domain needs a value}; shift 2 ;;
    --email) email=${2:?--email needs a value}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"
# Write stdin to a file with a mode (only when the content changed); print instead under --dry-run.
put() {
  local path=$1 mode=$2 tmp
  if ((dry_run)); then
    echo "+ write $path (mode $mode)"
    cat >/dev/null
    return
  fi
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
  else
    install -D -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
  fi
}

[[ $image =~ ^[a-z0-9._/:-]+@sha256:[0-9a-f]{64}$ ]] ||
  die "--image must be pinned by digest (name@sha256:<64 hex>), got '${image:-nothing}'; see docs/deploy-vm.md"
[[ -z $domain || -n $email ]] || die "--domain needs --email (Let's Encrypt account)"
((dry_run)) || [[ $(id -u) -eq 0 ]] || die "run as root (sudo), or pass --dry-run"

step "checking the host"
if ((dry_run)); then
  run command -v docker nginx
else
  command -v docker >/dev/null || die "docker not found: apt install docker.io (or Docker CE), then re-run"
  command -v nginx >/dev/null || die "nginx not found: apt install nginx, then re-run"
fi
if ((gpu)); then
  if ((dry_run)); then
    run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    run nvidia-ctk --version
  else
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
      die "nvidia-smi failed: install the NVIDIA driver (ubuntu-drivers install --gpgpu) and reboot"
    command -v nvidia-ctk >/dev/null ||
      die "NVIDIA Container Toolkit missing: install nvidia-container-toolkit, then: nvidia-ctk runtime configure --runtime=docker && systemctl restart docker"
    docker info --format '{{json .Runtimes}}' | grep -q nvidia ||
      die "docker has no nvidia runtime: nvidia-ctk runtime configure --runtime=docker && systemctl restart docker"
  fi
fi

step "pulling $image"
run docker pull "$image"

step "data directories in $state (owned by the image's user 10001)"
run install -d -m 0750 -o 10001 -g 10001 "$state/data" "$state/models" "$state/outputs" "$state/data/backups"
run install -d -m 0755 /var/log/tubesum

step "settings in $etc/tubesum.env (existing values are kept)"
run install -d -m 0750 "$etc"
env_file=$etc/tubesum.env
if ((dry_run)) || [[ ! -f $env_file ]]; then
  put "$env_file" 0600 <"$repo/deploy/tubesum.env.template"
else  # add settings the template gained since, never touch the ones present (secrets included)
  while IFS= read -r line; do
    key=${line%%=*}
    [[ $line =~ ^[A-Z_]+= ]] && ! grep -q "^$key=" "$env_file" && echo "$line" >>"$env_file"
  done <"$repo/deploy/tubesum.env.template"
  chmod 0600 "$env_file"
fi

step "recording the image (the previous one is kept for rollback.sh)"
current=""
[[ -f $etc/image.env ]] && current=$(sed -n 's/^TUBESUM_IMAGE=//p' "$etc/image.env")
if [[ -n $current && $current != "$image" ]]; then
  echo "$current" | put "$etc/image.previous" 0644
fi
docker_args=""
((gpu)) && docker_args="--gpus all"
printf 'TUBESUM_IMAGE=%s\nTUBESUM_DOCKER_ARGS=%s\n' "$image" "$docker_args" | put "$etc/image.env" 0644

step "systemd units, log rotation"
for unit in tubesum.service tubesum-backup.service tubesum-backup.timer; do
  put "/etc/systemd/system/$unit" 0644 <"$repo/deploy/systemd/$unit"
done
put /etc/logrotate.d/tubesum 0644 <"$repo/deploy/logrotate/tubesum"
run systemctl daemon-reload
run systemctl enable tubesum.service tubesum-backup.timer
run systemctl restart tubesum.service
run systemctl start tubesum-backup.timer

step "nginx reverse proxy (deploy/nginx/tubesum.conf, rendered for the host)"
# The compose template proxies to the "api" container and takes the resolver from the image's entrypoint;
# on the host nginx proxies to the published loopback port instead and listens on 80.
sed -e 's#http://api:8000#http://127.0.0.1:8000#' \
  -e '/^resolver /d' \
  -e 's/listen 8080;/listen 80;/' \
  -e "s/server_name _;/server_name ${domain:-_};\n    access_log \/var\/log\/nginx\/tubesum.access.log;\n    error_log \/var\/log\/nginx\/tubesum.error.log;/" \
  "$repo/deploy/nginx/tubesum.conf" | put /etc/nginx/conf.d/tubesum.conf 0644
run rm -f /etc/nginx/sites-enabled/default
run nginx -t
run systemctl enable nginx
run systemctl reload-or-restart nginx

if [[ -n $domain ]]; then
  step "TLS for $domain (certbot; HTTP is redirected to HTTPS, renewal by certbot's timer)"
  run certbot --nginx --non-interactive --agree-tos --email "$email" --domains "$domain" --redirect
fi

step "waiting for $health_url"
if ((dry_run)); then
  run curl --fail --silent --retry 30 --retry-delay 2 --retry-all-errors "$health_url"
else
  curl --fail --silent --retry 30 --retry-delay 2 --retry-all-errors "$health_url" >/dev/null ||
    die "tubesum did not become healthy: journalctl -u tubesum -n 100"
  echo "tubesum is up ($image)"
fi
