# Everything the flake exposes for one system, assembled from the files beside this one.
{
  nixpkgs,
  system,
  revision,
  withCuda,
}:
let
  # nixpkgs as published: no unfree packages. Only images.nix makes a second, CUDA-enabled instance.
  pkgs = nixpkgs.legacyPackages.${system};
  inherit (pkgs) lib;

  python = import ./python.nix { inherit pkgs; };
  tubesum = pkgs.callPackage ./package.nix { python3Packages = python.pkgs; };

  images = import ./images.nix {
    inherit
      nixpkgs
      pkgs
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

  devShells.default = import ./devshell.nix { inherit pkgs python tubesum; };

  checks = import ./checks.nix { inherit pkgs python tubesum; };

  # `nix fmt` (RFC 166 style, the formatter nixpkgs itself uses).
  formatter = pkgs.nixfmt;
}
