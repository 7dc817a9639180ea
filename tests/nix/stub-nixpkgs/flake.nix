# A stand-in for nixpkgs, for offline tests only (tests/test_nix.py):
#   nix build .#image-cpu --override-input nixpkgs path:./tests/nix/stub-nixpkgs \
#     --override-input nixpkgs/nixpkgs-lib path:<a nixpkgs.lib checkout> (+ the uv2nix inputs)
# It provides exactly the attributes tubesum's flake uses (and pyproject.nix/uv2nix call), each one listed in
# nix/nixpkgs-evidence.json. Every package is a tiny derivation whose output is the JSON of the arguments it
# was called with, so tests can read back how the flake wired things (entrypoint, user, labels, which wheels,
# which unfree packages the CUDA instance admits). `lib` is the real nixpkgs lib, which pyproject.nix and
# uv2nix need. It proves wiring, not nixpkgs.
{
  description = "Stub nixpkgs for tubesum's offline flake tests";

  inputs.nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";

  outputs =
    { self, nixpkgs-lib }:
    {
      inherit (nixpkgs-lib) lib;
      legacyPackages = self.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ] (system: import ./default.nix { inherit system; inherit (nixpkgs-lib) lib; });
    };
}
