# The stub package set: `import nixpkgs { system; config; }` and `legacyPackages.${system}` both
# land here.
{
  system,
  config ? { },
  overlays ? [ ],
  # The real nixpkgs lib (nix-community/nixpkgs.lib, the stub flake's input) when called from the flake, so
  # that pyproject.nix and uv2nix run on the lib they are written for; a direct `import` gets the small
  # stand-in in lib.nix.
  lib ? import ./lib.nix,
}:
let

  # nixpkgs' check-meta: an unfree package evaluates only under allowUnfree or when
  # allowUnfreePredicate accepts it.
  unfreeAllowed =
    attrs: config.allowUnfree or false || (config.allowUnfreePredicate or (_: false)) attrs;

  # A predicate is a function, which JSON cannot hold: record which of these names it admits
  # instead.
  probeNames = [
    "cudnn"
    "libcublas"
    "cuda_cudart"
    "libcurand"
    "cuda_nvrtc"
    "cuda_nvcc"
    "cuda_cccl"
    "cuda_crt"
    "libcufft"
    "libcusparse"
    "nccl"
    "tensorrt"
    "nvidia-x11"
    "unrar"
    "vscode"
  ];
  instance = {
    allowUnfree = config.allowUnfree or false;
    cudaSupport = config.cudaSupport or false;
    hasUnfreePredicate = config ? allowUnfreePredicate;
    unfreeAllowed = builtins.filter (
      name:
      unfreeAllowed {
        pname = name;
        name = "${name}-0-stub";
        meta.license = lib.licenses.unfree;
      }
    ) probeNames;
    overlays = builtins.length overlays;
  };

  # JSON-safe copy of the arguments. Derivations and sources become their store path, a string with
  # context: the recording derivation then depends on them, so `nix build` builds (and tests can
  # read) the whole graph.
  toData =
    x:
    if builtins.isFunction x then
      "<function>"
    else if builtins.isAttrs x then
      if x ? outPath then "${x}" else builtins.mapAttrs (_: toData) x
    else if builtins.isList x then
      map toData x
    else if builtins.isPath x then
      "${x}"
    else
      x;

  # A package: a derivation whose output file is the JSON of its arguments, plus the attributes
  # nixpkgs exposes.
  mkPkg =
    {
      pname,
      version ? "0-stub",
      name ? "${pname}-${version}",
      args ? { },
      passthru ? { },
      meta ? { },
    }:
    builtins.derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [
        "-c"
        ''printf '%s' "$record" > "$out"''
      ];
      record = builtins.toJSON (
        toData args
        // {
          stub = name;
          nixpkgs = instance;
        }
      );
    }
    // passthru
    // {
      inherit pname version meta;
      passthru = passthru;
    };

  tool =
    pname:
    mkPkg {
      inherit pname;
      meta.mainProgram = pname;
    };

  unfree =
    pname:
    let
      meta.license = lib.licenses.unfree;
    in
    if
      unfreeAllowed {
        inherit pname meta;
        name = "${pname}-0-stub";
      }
    then
      mkPkg { inherit pname meta; }
    else
      throw "Package ‘${pname}-0-stub’ has an unfree license (‘unfree’), refusing to evaluate (stub)";

  cudaPackages = lib.genAttrs [
    "cudnn"
    "libcublas"
  ] unfree;

  platform =
    if lib ? systems then
      lib.systems.elaborate system
    else
      {
        inherit system;
        isLinux = true;
      };

  # stdenv.mkDerivation: its arguments (or a function of the final arguments, as nixpkgs allows) recorded
  # like every stub package; overrideAttrs takes `old: { }` or `final: prev: { }` like nixpkgs'.
  mkDerivation =
    fnOrAttrs:
    let
      fn = if builtins.isFunction fnOrAttrs then fnOrAttrs else (_: fnOrAttrs);
      attrs = lib.fix fn;
      pname = attrs.pname or (builtins.parseDrvName attrs.name).name;
      version = attrs.version or "0-stub";
    in
    mkPkg {
      inherit pname version;
      name = attrs.name or "${pname}-${version}";
      args = builtins.removeAttrs attrs [
        "passthru"
        "meta"
      ];
      passthru = (attrs.passthru or { }) // {
        overrideAttrs =
          f:
          mkDerivation (
            final:
            let
              prev = fn final;
              applied = if builtins.isFunction f then f prev else f;
            in
            prev // (if builtins.isFunction applied then f final prev else applied)
          );
      };
      meta = attrs.meta or { };
    };

  stdenv = {
    inherit mkDerivation;
    isLinux = true;
    isDarwin = false;
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
    # glibc's version decides which manylinux wheels are compatible (pyproject.nix's pep600).
    cc.libc = {
      pname = "glibc";
      version = "2.40";
      linuxHeaders.version = "6.12";
    };
  };

  # The interpreter: nixpkgs' python311 is CPython 3.11.x; only its facts, no package set (`pkgs` and
  # `withPackages` are absent, so a flake that reached for nixpkgs' Python packages fails here).
  python311 =
    let
      version = "3.11.14";
      self =
        mkPkg {
          pname = "python3";
          inherit version;
        }
        // {
          pythonVersion = "3.11";
          sitePackages = "lib/python3.11/site-packages";
          executable = "python3.11";
          interpreter = "${self}/bin/python3.11";
          pythonOlder = v: builtins.compareVersions "3.11" v < 0;
          pythonAtLeast = v: builtins.compareVersions "3.11" v >= 0;
          pythonOnBuildForHost = self;
          inherit stdenv;
          implementation = "cpython";
          passthru = {
            implementation = "cpython";
            pythonVersion = "3.11";
            sourceVersion = {
              major = "3";
              minor = "11";
              patch = "14";
            };
          };
        };
    in
    self;

  # makeSetupHook { name, substitutions, propagatedBuildInputs, ... } script
  makeSetupHook =
    {
      name ? "hook",
      propagatedBuildInputs ? [ ],
      depsTargetTargetPropagated ? [ ],
      substitutions ? { },
      meta ? { },
      passthru ? { },
    }:
    script:
    mkPkg {
      pname = name;
      inherit name meta passthru;
      args = {
        inherit propagatedBuildInputs substitutions script;
      };
    };

  fakeNss =
    let
      mk =
        args:
        mkPkg {
          pname = "fake-nss";
          name = "fake-nss";
          inherit args;
          passthru.override = newArgs: mk (args // newArgs);
        };
    in
    mk {
      extraPasswdLines = [ ];
      extraGroupLines = [ ];
    };

  pkgs = {
    inherit
      lib
      cudaPackages
      python311
      stdenv
      makeSetupHook
      ;
    pkgs = pkgs;
    buildPackages = pkgs;
    newScope = extra: lib.callPackageWith (pkgs // extra);

    replaceVars =
      src: replacements:
      mkPkg {
        pname = baseNameOf src;
        args = { inherit src replacements; };
      };

    makeFontsConf =
      { fontDirectories }:
      mkPkg {
        pname = "fonts.conf";
        name = "fonts.conf";
        args = { inherit fontDirectories; };
      };

    # Not used by nix/ (no nixpkgs Python package is installed): build-system-pkgs' overlay takes
    # setuptools-scm's setup hook from nixpkgs' default Python set, and the devshell's editable hook reaches
    # it (libcst's extra build dependency setuptools-rust needs setuptools-scm).
    # Likewise meson-python's setup hooks (pycairo's sdist build).
    python3Packages = {
      setuptools-scm.setupHook = tool "setuptools-scm-version-pretend-hook.sh";
      meson-python.setupHooks = [ (tool "meson-python-pep517-hook.sh") ];
      # nixpkgs' `ninja` Python stub (it runs nixpkgs' ninja binary), whose source build-system-pkgs reuses.
      ninja = {
        pname = "ninja";
        version = "1.13.0";
        src = tool "ninja-python-stub-source";
        meta = { };
        postUnpack = "";
        setupHook = tool "ninja-setup-hook.sh";
        preBuild = "";
      };
    };

    # The manylinux library lists uv2nix adds to every binary wheel.
    pythonManylinuxPackages = {
      manylinux1 = [ pkgs.glibc ];
      manylinux2010 = [ pkgs.glibc ];
      manylinux2014 = [ pkgs.glibc ];
    };

    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);

    fetchurl =
      {
        url,
        hash,
        name ? baseNameOf url,
      }:
      mkPkg {
        pname = name;
        inherit name;
        args = { inherit url hash; };
        passthru = { inherit url; };
      };

    runCommand =
      name: env: script:
      mkPkg {
        pname = env.pname or name;
        version = env.version or "0-stub";
        inherit name;
        args =
          builtins.removeAttrs env [
            "passthru"
            "meta"
          ]
          // {
            inherit script;
          };
        passthru = env.passthru or { };
        meta = env.meta or { };
      };

    # `nix develop` needs a bash builder and a single "out" output; env becomes the shell's
    # environment.
    mkShell =
      {
        packages ? [ ],
        env ? { },
        shellHook ? "",
      }:
      builtins.derivation (
        {
          name = "tubesum-devshell";
          inherit system shellHook;
          builder = "/bin/bash";
          outputs = [ "out" ];
          args = [
            "-c"
            ''printf '%s' "$record" > "$out"''
          ];
          record = builtins.toJSON {
            stub = "mkShell";
            packages = toData packages;
            inherit env shellHook;
            nixpkgs = instance;
          };
        }
        // env
      );

    dockerTools = {
      inherit fakeNss;
      buildLayeredImage =
        args:
        mkPkg {
          pname = args.name;
          name = "docker-image-${args.name}.tar.gz";
          args = args // {
            kind = "buildLayeredImage";
          };
          passthru = {
            imageName = args.name;
            imageTag = args.tag or null;
          };
        };
    };

    cacert = tool "nss-cacert";
    ninja = tool "ninja";
    pkg-config = tool "pkg-config";
    autoPatchelfHook = tool "autoPatchelfHook";
    cairo = tool "cairo";
    dbus = tool "dbus";
    dejavu_fonts = tool "dejavu_fonts";
    deno = tool "deno";
    espeak-ng = tool "espeak-ng";
    ffmpeg-headless = tool "ffmpeg-headless";
    fontconfig = tool "fontconfig";
    freetype = tool "freetype";
    glibc = tool "glibc";
    libGL = tool "libGL";
    libxkbcommon = tool "libxkbcommon";
    makeWrapper = tool "makeWrapper";
    nixfmt = tool "nixfmt";
    podman = tool "podman";
    poppler-utils = tool "poppler-utils";
    skopeo = tool "skopeo";
    ugrep = tool "ugrep";
    unzip = tool "unzip";
    uv = tool "uv";
    zlib = tool "zlib";
  };
in
pkgs
