# Everything the flake exposes for one system, assembled from the files beside this one.
{
  nixpkgs,
  pyproject-nix,
  uv2nix,
  pyproject-build-systems,
  system,
  revision,
  withCuda,
}:
let
  # nixpkgs as published: no unfree packages. Only images.nix makes a second, CUDA-enabled instance.
  pkgs = nixpkgs.legacyPackages.${system};
  inherit (pkgs) lib;

  # The Python package set built from uv.lock (python.nix) and tubesum on top of it (package.nix).
  python = import ./python.nix {
    inherit
      pkgs
      pyproject-nix
      uv2nix
      pyproject-build-systems
      ;
  };
  tubesum = pkgs.callPackage ./package.nix { inherit python; };

  images = import ./images.nix {
    inherit
      nixpkgs
      pkgs
      python
      system
      revision
      withCuda
      ;
  };
in
{
  packages = {
    inherit tubesum;
    default = tubesum;
  }
  // images;

  apps =
    let
      app = {
        type = "app";
        program = lib.getExe tubesum;
      };
    in
    {
      tubesum = app;
      default = app;
    };

  devShells.default = import ./devshell.nix { inherit pkgs python; };

  checks = import ./checks.nix { inherit pkgs python tubesum; };

  # `nix fmt` (RFC 166 style, the formatter nixpkgs itself uses).
  formatter = pkgs.nixfmt;
}
