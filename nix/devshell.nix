# `nix develop`: the locked environment (uv.lock: tubesum editable from the checkout, every extra and every
# dependency group: test, lint, docs, build) plus the system programs the test suite drives (ffmpeg,
# espeak-ng, pdftotext) and the packaging tools. Everything Python comes from uv.lock's wheels, so the shell
# is ready from caches; `uv` is there for `uv lock` and never syncs or downloads a Python.
{
  pkgs,
  python,
}:
let
  venv = python.editableSet.mkVirtualEnv "tubesum-dev-env" python.workspace.deps.all;
in
pkgs.mkShell {
  packages = [
    venv
    pkgs.ffmpeg-headless
    pkgs.espeak-ng
    pkgs.poppler-utils
    pkgs.uv
    pkgs.nixfmt
    # Load, run and inspect the OCI images without a Docker daemon (podman load < result; skopeo
    # inspect).
    pkgs.podman
    pkgs.skopeo
  ];

  env = {
    # uv must use the locked environment's Python and never build a second environment or fetch a
    # Python (`uv lock`, `uv tree` work; `uv sync` is the non-Nix workflow of scripts/bootstrap).
    UV_NO_SYNC = "1";
    UV_PYTHON = "${venv}/bin/python";
    UV_PYTHON_DOWNLOADS = "never";
  };

  # The editable install points at $REPO_ROOT/src; nixpkgs' Python hooks must not add their own paths.
  shellHook = ''
    unset PYTHONPATH
    export REPO_ROOT=$(git rev-parse --show-toplevel)
  '';
}
