# The Python package set, built from uv.lock by uv2nix: exactly the versions and wheels the venv, the
# Dockerfile and CI use (one dependency universe). nixpkgs supplies the interpreter only (python311, the minor
# version uv.lock was resolved and tested for), plus the system libraries the manylinux wheels link
# (wheel-fixups.nix). No nixpkgs Python package set (python3Packages) is used anywhere.
{
  pkgs,
  pyproject-nix,
  uv2nix,
  pyproject-build-systems,
}:
let
  inherit (pkgs) lib;

  # Only what uv2nix reads (pyproject.toml, uv.lock) and what tubesum's wheel is built from: editing tests,
  # docs or nix/ rebuilds nothing.
  # (builtins.path rather than lib.fileset, which needs builtins.readFileType: the offline tests also
  # evaluate with Debian 12's Nix 2.8.)
  workspaceRoot = builtins.path {
    name = "tubesum-source";
    path = ../.;
    filter =
      path: type:
      let
        rel = lib.removePrefix (toString ../. + "/") (toString path);
      in
      lib.elem rel [
        "pyproject.toml"
        "uv.lock"
        "README.md"
        "src"
      ]
      || lib.hasPrefix "src/" rel;
  };
  workspace = uv2nix.lib.workspace.loadWorkspace { workspaceRoot = "${workspaceRoot}"; };

  # Every locked package as a wheel (uv.lock has one for each on x86_64-linux and aarch64-linux:
  # tests/test_nix.py::test_uv2nix_resolves_uv_lock), so nothing is compiled; tubesum itself is built from
  # source with hatchling (from build-system-pkgs, also wheels).
  lockOverlay = workspace.mkPyprojectOverlay { sourcePreference = "wheel"; };

  interpreter = pkgs.python311;

  baseSet = pkgs.callPackage pyproject-nix.build.packages { python = interpreter; };

  pythonSet = baseSet.overrideScope (
    lib.composeManyExtensions [
      pyproject-build-systems.overlays.wheel
      lockOverlay
      (import ./wheel-fixups.nix { inherit pkgs; })
    ]
  );

  # `nix develop`: tubesum installed editable from the checkout ($REPO_ROOT, set by the shell hook), so edits
  # under src/ take effect without a rebuild. The editable overlay works out the project's place from a path
  # (the flake's source; the same uv.lock), and builds the editable wheel from the filtered source;
  # hatchling's editable wheels need `editables`.
  editableSet = pythonSet.overrideScope (
    lib.composeManyExtensions [
      ((uv2nix.lib.workspace.loadWorkspace { workspaceRoot = ../.; }).mkEditablePyprojectOverlay {
        root = "$REPO_ROOT";
      })
      (final: prev: {
        tubesum = prev.tubesum.overrideAttrs (old: {
          src = workspaceRoot;
          nativeBuildInputs = old.nativeBuildInputs ++ final.resolveBuildSystem { editables = [ ]; };
        });
      })
    ]
  );
in
{
  inherit
    interpreter
    workspace
    workspaceRoot
    pythonSet
    editableSet
    ;

  # A virtual environment of tubesum with some of its extras (pyproject.toml names) and dependency groups.
  mkEnv =
    name: extras:
    pythonSet.mkVirtualEnv name {
      tubesum = extras;
    };
}
