# What uv2nix builds from uv.lock, without nixpkgs: the Python packages (name → version and wheel) that
# `workspace.mkPyprojectOverlay { sourcePreference = "wheel"; }` puts into the package set for one system and
# CPython 3.11, evaluated with the real nixpkgs lib (nix-community/nixpkgs.lib), pyproject.nix and uv2nix. The
# overlay is applied to a minimal stand-in for pyproject.nix's build set (interpreter facts and a callPackage
# that records fetchurl's arguments): enough for uv2nix's resolver and wheel selection, which are what decide
# the versions. tests/test_nix.py::test_uv2nix_resolves_uv_lock compares the result with uv.lock.
{
  lib, # path of a nixpkgs.lib checkout (its lib/)
  pyproject-nix, # path of a pyproject.nix checkout
  uv2nix, # path of a uv2nix checkout
  workspaceRoot, # the project: pyproject.toml and uv.lock
  system ? "x86_64-linux",
  pythonVersion ? "3.11.14",
}:
let
  nixLib = import lib;
  pyproject = import pyproject-nix { lib = nixLib; };
  uv = import (uv2nix + "/lib") {
    lib = nixLib;
    pyproject-nix = pyproject;
  };
  workspace = uv.workspace.loadWorkspace { inherit workspaceRoot; };
  overlay = workspace.mkPyprojectOverlay { sourcePreference = "wheel"; };

  platform = nixLib.systems.elaborate system;
  version = nixLib.splitVersion pythonVersion;
  stdenv = {
    isDarwin = false;
    isLinux = true;
    hostPlatform = platform;
    targetPlatform = platform;
    buildPlatform = platform;
    cc.libc = {
      pname = "glibc";
      version = "2.40";
      linuxHeaders.version = "6.12";
    };
    mkDerivation = attrs: if builtins.isFunction attrs then nixLib.fix attrs else attrs;
  };
  python = {
    pname = "python3";
    version = pythonVersion;
    inherit stdenv;
    passthru = {
      implementation = "cpython";
      pythonVersion = "${builtins.elemAt version 0}.${builtins.elemAt version 1}";
      sourceVersion = {
        major = builtins.elemAt version 0;
        minor = builtins.elemAt version 1;
        patch = builtins.elemAt version 2;
      };
    };
    pythonOnBuildForHost = python;
  };
  fake = {
    inherit stdenv python;
    fetchurl = args: { inherit (args) url hash; };
    autoPatchelfHook = "autoPatchelfHook";
    pythonManylinuxPackages = {
      manylinux1 = [ ];
      manylinux2010 = [ ];
      manylinux2014 = [ ];
    };
    unzip = "unzip";
    pyprojectHook = "pyprojectHook";
    pyprojectWheelHook = "pyprojectWheelHook";
    resolveBuildSystem = _: [ ];
  };
  callPackage = f: args: f (builtins.intersectAttrs (builtins.functionArgs f) fake // args);
  set = overlay { inherit callPackage python stdenv; } { inherit python stdenv; };
in
builtins.mapAttrs (_: drv: {
  inherit (drv) version;
  wheel = if builtins.isAttrs (drv.src or null) && drv.src ? url then drv.src.url else null;
}) (builtins.removeAttrs set [ "tubesum" ])
