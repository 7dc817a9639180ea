# A stand-in for nixpkgs, for offline tests only (tests/test_nix.py):
#   nix build .#image-cpu --override-input nixpkgs path:./tests/nix/stub-nixpkgs It provides exactly
# the attributes tubesum's flake uses. Every package is a tiny derivation whose output is the JSON
# of the arguments it was called with, so tests can read back how the flake wired things
# (entrypoint, user, labels, which CTranslate2, which unfree packages the CUDA instance admits). It
# proves wiring, not nixpkgs.
{
  description = "Stub nixpkgs for tubesum's offline flake tests";

  outputs =
    { self }:
    {
      lib = import ./lib.nix;
      legacyPackages = self.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ] (system: import ./default.nix { inherit system; });
    };
}
