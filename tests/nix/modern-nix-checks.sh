#!/usr/bin/env bash
# The offline flake checks with a modern Nix, run inside scripts/modern-nix's Debian trixie root (nix-bin 2.26):
# `nix flake show`, `nix flake check` (stub builds) and the drvPath of every package, devshell and image of both
# systems, against the stub nixpkgs and the flake's other inputs exported from the snapshots under
# TUBESUM_NIX_MIRROR at flake.lock's revisions (narHash checked). Prints one JSON line last (tests/test_nix.py reads
# it).
set -euo pipefail
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nflake-registry = /dev/null\nwarn-dirty = false\nbuild-users-group =\nsandbox = false'
mirror=${TUBESUM_NIX_MIRROR:?set TUBESUM_NIX_MIRROR to the snapshots (bare git directories <owner>+<repo>/repo)}
nixpkgs_lib_rev=de42d44212d207476489bce163375d8306a26d59
work=$(mktemp -d)
git config --global --add safe.directory '*'

locked() { nix eval --raw --impure --expr "(builtins.fromJSON (builtins.readFile ./flake.lock)).nodes.\"$1\".locked.$2"; }
export_input() {  # name owner/repo rev [narHash]
  local dest=$work/$1
  mkdir -p "$dest"
  git --git-dir="$mirror/${2/\//+}/repo" archive "$3" | tar -x -C "$dest"
  if [[ -n ${4:-} ]]; then
    local got
    got=$(nix hash path "$dest")
    [[ $got == "$4" ]] || { echo "modern-nix: $2@$3 narHash $got, flake.lock says $4" >&2; exit 1; }
  fi
  overrides+=(--override-input "$1" "path:$dest")
}
overrides=(--override-input nixpkgs path:./tests/nix/stub-nixpkgs)
for input in pyproject-nix uv2nix pyproject-build-systems; do
  export_input "$input" "$(locked "$input" owner)/$(locked "$input" repo)" "$(locked "$input" rev)" \
    "$(locked "$input" narHash)"
done
mkdir -p "$work/nixpkgs-lib"
git --git-dir="$mirror/nix-community+nixpkgs.lib/repo" archive "$nixpkgs_lib_rev" | tar -x -C "$work/nixpkgs-lib"
overrides+=(--override-input nixpkgs/nixpkgs-lib "path:$work/nixpkgs-lib")

version=$(nix --version)
echo "modern-nix: $version" >&2
show=$(nix flake show --json "${overrides[@]}" 2>/dev/null)
nix flake check "${overrides[@]}" 2>"$work/check.log" || { cat "$work/check.log" >&2; exit 1; }
drvs=$(nix eval --json "${overrides[@]}" .#packages --apply '
  ps: builtins.listToAttrs (builtins.concatLists (builtins.attrValues (builtins.mapAttrs (system: set:
    map (name: { name = "${system}.${name}"; value = set.${name}.drvPath; }) (builtins.attrNames set)) ps)))' \
  2>/dev/null)
shells=$(nix eval --json "${overrides[@]}" .#devShells --apply '
  s: builtins.mapAttrs (_: set: set.default.drvPath) s' 2>/dev/null)
packages=$(nix eval --json "${overrides[@]}" .#packages.x86_64-linux --apply builtins.attrNames 2>/dev/null)
printf '{"nix": "%s", "show": %s, "packages": %s, "drvPaths": %s, "devShells": %s}\n' \
  "$version" "$show" "$packages" "$drvs" "$shells"
