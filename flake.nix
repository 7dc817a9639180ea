{
  description = "tubesum: YouTube and media transcripts and summaries (CLI, HTTP API, OCI images)";

  # Locked in flake.lock to one nixos-25.11 revision. `nix flake update` on a networked machine
  # moves the pin; the images workflow fetches the locked revision (which checks its narHash) and
  # builds from it, which is what proves the pin.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  # Thin on purpose: the logic lives in nix/ (package, images, devshell, checks).
  outputs =
    {
      self,
      nixpkgs,
    }:
    let
      inherit (nixpkgs) lib;

      # CPU outputs on both Linux architectures; the CUDA image on x86_64 only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      cudaSystems = [ "x86_64-linux" ];

      # org.opencontainers.image.revision: the commit, or "dirty" for a tree with uncommitted
      # changes.
      revision = self.rev or "dirty";

      perSystem = lib.genAttrs systems (
        system:
        import ./nix {
          inherit nixpkgs system revision;
          withCuda = lib.elem system cudaSystems;
        }
      );
      output = name: lib.mapAttrs (_: outputs: outputs.${name}) perSystem;
    in
    {
      packages = output "packages";
      apps = output "apps";
      devShells = output "devShells";
      checks = output "checks";
      formatter = output "formatter";
    };
}
