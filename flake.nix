{
  description = "tubesum: YouTube and media transcripts and summaries (CLI, HTTP API, OCI images)";

  # One dependency universe: the Python environment is built from uv.lock (uv2nix), the same versions and
  # wheels the venv, the Dockerfile and CI use. nixpkgs (locked in flake.lock to one nixos-25.11 revision)
  # supplies only the interpreter (python311), ffmpeg, Cairo, fonts, CA certificates, Deno and the CUDA
  # runtime libraries. The images workflow fetches the locked revisions (checking their narHash) and builds.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

    pyproject-nix = {
      url = "github:pyproject-nix/pyproject.nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };

    uv2nix = {
      url = "github:pyproject-nix/uv2nix";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };

    # Build systems (hatchling for tubesum itself, and what any sdist would need) as wheels.
    pyproject-build-systems = {
      url = "github:pyproject-nix/build-system-pkgs";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.uv2nix.follows = "uv2nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  # Thin on purpose: the logic lives in nix/ (python environment, package, images, devshell, checks).
  outputs =
    {
      self,
      nixpkgs,
      pyproject-nix,
      uv2nix,
      pyproject-build-systems,
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
          inherit
            nixpkgs
            pyproject-nix
            uv2nix
            pyproject-build-systems
            system
            revision
            ;
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
