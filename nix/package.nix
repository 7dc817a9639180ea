# tubesum as a program: a virtual environment from uv.lock (python.nix) with tubesum and the requested extras,
# and a `tubesum` wrapper that adds ffmpeg and the JavaScript runtime. Nothing here chooses versions: uv.lock
# does.
{
  lib,
  python,
  runCommand,
  makeWrapper,
  ffmpeg-headless,
  # yt-dlp solves YouTube's player challenges in a JavaScript runtime. uv.lock's deno wheel is in the
  # environment too; the wrapper points tubesum at nixpkgs' deno (built and cached by Hydra) by path
  # (TUBESUM_JS_RUNTIME), so nothing depends on the user's PATH.
  deno,
  # Names of pyproject.toml's [project.optional-dependencies] to install with it (images.nix passes pdf,
  # scale and sentry).
  extras ? [ ],
}:
let
  project = (lib.importTOML ../pyproject.toml).project;
  unknown = lib.subtractLists (lib.attrNames project.optional-dependencies) extras;
  venv =
    assert lib.assertMsg (unknown == [ ]) "tubesum has no extras ${toString unknown} (pyproject.toml)";
    python.mkEnv "tubesum-env-${project.version}" extras;
in
runCommand "tubesum-${project.version}"
  {
    pname = project.name;
    inherit (project) version;
    nativeBuildInputs = [ makeWrapper ];
    passthru = {
      inherit venv extras;
      # The package set (for tests and other outputs): pythonSet.<name>.version is uv.lock's.
      inherit (python) pythonSet;
    };
    meta = {
      inherit (project) description;
      homepage = project.urls.Homepage;
      license = lib.licenses.asl20;
      mainProgram = "tubesum";
      platforms = lib.platforms.linux;
    };
  }
  ''
    mkdir -p $out/bin
    # yt-dlp hands some downloads (HLS/DASH, merges) to the ffmpeg binary; decoding itself uses PyAV.
    makeWrapper ${venv}/bin/tubesum $out/bin/tubesum \
      --prefix PATH : ${lib.makeBinPath [ ffmpeg-headless ]} \
      --set-default TUBESUM_JS_RUNTIME deno:${deno}/bin/deno
  ''
