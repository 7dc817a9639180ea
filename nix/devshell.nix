# `nix develop`: Python 3.11 with tubesum's dependencies, every extra and the test/lint tools, plus
# the system programs the test suite drives (ffmpeg, espeak-ng, pdftotext) and the packaging tools.
# tubesum itself is not installed: the shell puts ./src on PYTHONPATH, so edits take effect without
# a rebuild.
{
  pkgs,
  python,
  tubesum,
}:
let
  inherit (pkgs) lib;

  pythonEnv = python.withPackages (
    ps:
    tubesum.passthru.pythonDependencies
    ++ lib.concatLists (lib.attrValues tubesum.passthru.optional-dependencies)
    ++ (with ps; [
      # [dependency-groups] test and lint of pyproject.toml. mypy sits in the environment (not
      # pkgs.mypy) so its pydantic plugin imports the same pydantic.
      httpx-sse
      jsonschema
      mypy
      pytest
      pytest-timeout
      srt
    ])
    # Packaged only in recent nixpkgs; without them the few tests that use them skip or `uv sync`
    # provides them.
    ++ lib.concatMap (name: lib.optional (ps ? ${name}) ps.${name}) [
      "schemathesis"
      "webvtt-py"
    ]
  );
in
pkgs.mkShell {
  packages = [
    pythonEnv
    pkgs.ffmpeg-headless
    pkgs.espeak-ng
    pkgs.poppler-utils
    # pycairo builds (uv sync outside Nix) need the C library and pkg-config.
    pkgs.cairo
    pkgs.pkg-config
    pkgs.uv
    pkgs.ruff
    pkgs.nixfmt
    # Load, run and inspect the OCI images without a Docker daemon (podman load < result; skopeo
    # inspect).
    pkgs.podman
    pkgs.skopeo
  ];

  env = {
    # uv must use this shell's Python, never download one (`uv lock`, `uv tree` work; `uv sync`
    # would build a second environment from PyPI wheels, which is the non-Nix workflow of
    # scripts/bootstrap).
    UV_PYTHON = "${pythonEnv}/bin/python3";
    UV_PYTHON_DOWNLOADS = "never";
  };

  shellHook = ''
    export PYTHONPATH="$PWD/src''${PYTHONPATH:+:$PYTHONPATH}"
  '';
}
