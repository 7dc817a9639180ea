# `nix flake check`: what can run inside the Nix build sandbox (no network, no services, no GPU).
# The full test suite needs espeak-ng speech, loopback servers and PostgreSQL; it runs in .ci/run,
# not here.
{
  pkgs,
  python,
  tubesum,
}:
let
  inherit (pkgs) lib;

  # The files each check reads, so that, e.g., editing docs/ reruns none of them. (builtins.path rather
  # than lib.fileset, which needs builtins.readFileType: the offline tests also evaluate with Nix 2.8.)
  source =
    names:
    builtins.path {
      name = "tubesum-check-source";
      path = ../.;
      filter =
        path: type:
        let
          rel = lib.removePrefix (toString ../. + "/") (toString path);
        in
        lib.any (name: rel == name || lib.hasPrefix "${name}/" rel) names;
    };

  # tubesum with the offline tiny.en model, to transcribe the bundled sample.
  tubesumSample = pkgs.callPackage ./package.nix {
    inherit python;
    extras = [ "sample" ];
  };
in
{
  # Every wheel of the environment installs (autoPatchelf finds each library it links) and tubesum builds.
  inherit tubesum;

  # The faces import in the Nix environment (uv.lock's versions): what nixpkgs' pythonImportsCheck did.
  imports = pkgs.runCommand "tubesum-check-imports" { nativeBuildInputs = [ tubesum.venv ]; } ''
    export HOME=$TMPDIR
    python -c "import tubesum, tubesum.cli, tubesum.api.app"
    touch $out
  '';

  # The installed entry point works: version from pyproject.toml, every command group loads.
  cli = pkgs.runCommand "tubesum-check-cli" { nativeBuildInputs = [ tubesum ]; } ''
    export HOME=$TMPDIR
    tubesum --version | grep -F "${tubesum.version}"
    tubesum --help >/dev/null
    tubesum serve --help >/dev/null
    tubesum config env-example >/dev/null
    touch $out
  '';

  # End to end, offline: decode (PyAV) → Whisper tiny.en (CTranslate2, CPU) → text, subtitles, JSON,
  # Markdown.
  transcribe-sample =
    pkgs.runCommand "tubesum-check-transcribe-sample" { nativeBuildInputs = [ tubesumSample ]; }
      ''
        export HOME=$TMPDIR XDG_CACHE_HOME=$TMPDIR/cache TUBESUM_DATA_DIR=$TMPDIR/data HF_HUB_OFFLINE=1
        tubesum transcribe --sample -f txt -f srt -f vtt -f json -f md -o $TMPDIR/out
        grep -qi "recording" $TMPDIR/out/sample.txt
        grep -qi "network" $TMPDIR/out/sample.txt
        grep -q -- "-->" $TMPDIR/out/sample.srt
        mkdir -p $out
        cp $TMPDIR/out/* $out/
      '';

  # Unit tests that need no binaries, servers or models (settings, SSRF guard, files, logging).
  pytest-unit =
    pkgs.runCommand "tubesum-check-pytest-unit"
      {
        src = source [
          "pyproject.toml"
          ".env.example"
          "src"
          "tests"
        ];
        # tubesum's dependencies and pytest, all uv.lock's (./src on PYTHONPATH below wins over the installed
        # tubesum, so the tests run against the checked-out source).
        nativeBuildInputs = [
          (python.pythonSet.mkVirtualEnv "tubesum-check-env" {
            tubesum = [ ];
            pytest = [ ];
            pytest-timeout = [ ];
          })
        ];
      }
      ''
        cp -r $src source && chmod -R u+w source && cd source
        export HOME=$TMPDIR PYTHONPATH=$PWD/src
        python -m pytest -p no:cacheprovider \
          tests/test_settings.py tests/test_ssrf.py tests/test_files.py tests/test_logs.py
        touch $out
      '';

  # The same lint as scripts/test, with uv.lock's ruff.
  ruff =
    pkgs.runCommand "tubesum-check-ruff"
      {
        src = source [
          "pyproject.toml"
          "src"
          "tests"
        ];
        nativeBuildInputs = [ (python.pythonSet.mkVirtualEnv "ruff-env" { ruff = [ ]; }) ];
      }
      ''
        cd $src
        ruff check --no-cache src tests
        ruff format --no-cache --check src tests
        touch $out
      '';
}
