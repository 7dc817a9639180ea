# The stub package set: `import nixpkgs { system; config; }` and `legacyPackages.${system}` both
# land here.
{
  system,
  config ? { },
  overlays ? [ ],
}:
let
  lib = import ./lib.nix;

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

  tool = pname: mkPkg { inherit pname; };

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
    "cuda_cudart"
    "libcurand"
    "cuda_nvcc"
    "cuda_cccl"
  ] unfree;

  # Top-level CTranslate2 (the C++ library), CPU unless withCUDA, like pkgs/by-name/ct/ctranslate2.
  ctranslate2 =
    let
      mk =
        callArgs:
        let
          withCUDA = callArgs.withCUDA or instance.cudaSupport;
          withCuDNN = callArgs.withCuDNN or withCUDA;
        in
        mkPkg {
          pname = "ctranslate2";
          version = "4.6.1";
          args = {
            inherit withCUDA withCuDNN;
            nativeBuildInputs = lib.optionals withCUDA [ cudaPackages.cuda_nvcc ];
            buildInputs =
              lib.optionals withCUDA [
                cudaPackages.cuda_cccl
                cudaPackages.cuda_cudart
                cudaPackages.libcublas
                cudaPackages.libcurand
              ]
              ++ lib.optionals withCuDNN [ cudaPackages.cudnn ];
          };
          passthru.override = newArgs: mk (callArgs // newArgs);
        };
    in
    mk { };

  python311 = mkPython (_: _: { });

  mkPython =
    packageOverrides:
    let
      pythonPackages = lib.fix (
        self:
        let
          base = basePythonPackages self;
        in
        base // packageOverrides self base
      );
      interpreter = mkPkg {
        pname = "python3";
        version = "3.11.stub";
      };
    in
    interpreter
    // {
      pkgs = pythonPackages;
      pythonVersion = "3.11";
      override =
        {
          packageOverrides ? (_: _: { }),
          self ? null,
        }:
        mkPython packageOverrides;
      withPackages =
        f:
        mkPkg {
          pname = "python3-3.11-env";
          args.packages = f pythonPackages;
        };
    };

  basePythonPackages =
    self:
    let
      py =
        pname: args:
        mkPkg {
          inherit pname args;
          name = "python3.11-${pname}-0-stub";
          passthru = {
            optional-dependencies = args.optional-dependencies or { };
            override = newArgs: py pname (args // newArgs);
          };
        };
      build =
        kind: args:
        mkPkg {
          inherit (args) pname version;
          # Applications carry no interpreter prefix, like nixpkgs' buildPythonApplication.
          name =
            (if kind == "buildPythonApplication" then "" else "python3.11-")
            + "${args.pname}-${args.version}";
          args = args // {
            inherit kind;
          };
          passthru = (args.passthru or { }) // {
            optional-dependencies = args.optional-dependencies or { };
          };
          meta = args.meta or { };
        };
      plain = lib.genAttrs [
        "accelerate"
        "alembic"
        "av"
        "click"
        "croniter"
        "defusedxml"
        "gguf"
        "hatchling"
        "httpx"
        "httpx-sse"
        "jinja2"
        "jiwer"
        "jsbeautifier"
        "jsonschema"
        "matplotlib"
        "multipart"
        "mypy"
        "nvidia-ml-py"
        "prometheus-client"
        "psycopg"
        "psycopg-pool"
        "pyannote-audio"
        "pycairo"
        "pydantic"
        "pydantic-settings"
        "pyside6"
        "pytest"
        "pytest-timeout"
        "redis"
        "rich"
        "schemathesis"
        "sentencepiece"
        "sentry-sdk"
        "sqlalchemy"
        "srt"
        "streamlit"
        "structlog"
        "torch"
        "transformers"
        "uvicorn"
        "webvtt-py"
        "yt-dlp"
        "yt-dlp-ejs"
      ] (pname: py pname { });
    in
    plain
    // {
      buildPythonPackage = build "buildPythonPackage";
      buildPythonApplication = build "buildPythonApplication";

      ctranslate2 = py "ctranslate2" { ctranslate2-cpp = ctranslate2; };
      faster-whisper = py "faster-whisper" {
        dependencies = [
          self.av
          self.ctranslate2
        ];
      };
      # The optional-dependencies keys of nixpkgs 25.11's litestar (2.18), no `standard` among them
      # (nix/nixpkgs-evidence.json; tests/test_nix.py keeps the two lists equal).
      litestar = py "litestar" {
        optional-dependencies =
          lib.genAttrs [
            "annotated-types"
            "attrs"
            "brotli"
            "cli"
            "cryptography"
            "htmx"
            "jinja"
            "jwt"
            "mako"
            "minijinja"
            "opentelemetry"
            "piccolo"
            "picologging"
            "polyfactory"
            "pydantic"
            "redis"
            "structlog"
            "yaml"
          ] (_: [ ])
          // {
            prometheus = [ self.prometheus-client ];
          };
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
      ctranslate2
      python311
      ;

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
      }:
      mkPkg {
        pname = baseNameOf url;
        name = baseNameOf url;
        args = { inherit url hash; };
      };

    runCommand =
      name: env: script:
      mkPkg {
        pname = name;
        inherit name;
        args = env // {
          inherit script;
        };
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
    cairo = tool "cairo";
    deno = tool "deno";
    espeak-ng = tool "espeak-ng";
    ffmpeg-headless = tool "ffmpeg-headless";
    nixfmt = tool "nixfmt";
    pkg-config = tool "pkg-config";
    podman = tool "podman";
    poppler-utils = tool "poppler-utils";
    ruff = tool "ruff";
    skopeo = tool "skopeo";
    uv = tool "uv";
  };
in
pkgs
