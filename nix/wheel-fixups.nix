# Fix-ups for uv.lock's packages. Manylinux wheels: uv2nix installs every wheel with autoPatchelfHook and the manylinux2014
# libraries (glibc, libstdc++/libgcc_s, X11/GL/glib basics); what a wheel links beyond that is named here,
# from nixpkgs. Found by reading the DT_NEEDED entries of every shared object in the uv.lock venv
# (docs/packaging-nix.md). A wheel whose missing library is not here fails its build (autoPatchelf), so the
# images workflow catches one a version bump adds.
{ pkgs }:
final: prev:
let
  inherit (pkgs) lib;
  addLibs =
    name: libs:
    lib.optionalAttrs (prev ? ${name}) {
      ${name} = prev.${name}.overrideAttrs (old: {
        buildInputs = (old.buildInputs or [ ]) ++ libs;
      });
    };
  # The CUDA 13 runtime wheels uv.lock pins for torch (summarize/diarize extras): torch's CUDA libraries
  # link them; autoPatchelf finds them under each wheel's site-packages/nvidia/*/lib.
  nvidiaWheels = lib.filter (name: lib.hasPrefix "nvidia-" name) (lib.attrNames prev);
in
# zlib: PyAV's bundled FFmpeg, numpy, pillow, psycopg's bundled libpq.
addLibs "av" [ pkgs.zlib ]
// addLibs "numpy" [ pkgs.zlib ]
// addLibs "pillow" [ pkgs.zlib ]
// addLibs "psycopg-binary" [ pkgs.zlib ]
# The two packages uv.lock has no Linux wheel for are built from their sdist (the exact file uv.lock pins), with
# the build system their pyproject.toml names, from build-system-pkgs (uv2nix leaves build systems of sdists to
# overlays like this one).
// {
  # tubesum[pdf]: meson-python against nixpkgs' Cairo (found with pkg-config; meson runs ninja).
  pycairo = prev.pycairo.overrideAttrs (old: {
    nativeBuildInputs =
      old.nativeBuildInputs
      ++ final.resolveBuildSystem {
        meson-python = [ ];
        meson = [ ];
      }
      ++ [
        pkgs.pkg-config
        pkgs.ninja
      ];
    buildInputs = (old.buildInputs or [ ]) ++ [ pkgs.cairo ];
  });
  # The test group's subtitle parser: pure Python, setuptools.
  srt = prev.srt.overrideAttrs (old: {
    nativeBuildInputs = old.nativeBuildInputs ++ final.resolveBuildSystem { setuptools = [ ]; };
  });
}
# torch and torchaudio (summarize/diarize extras) link the CUDA 13 runtime of those wheels; torchaudio also
# torch's own libraries. The driver (libcuda) comes from the host at run time.
// lib.genAttrs (lib.filter (name: prev ? ${name}) [ "torch" "torchaudio" ]) (
  name:
  prev.${name}.overrideAttrs (old: {
    buildInputs =
      (old.buildInputs or [ ])
      ++ map (wheel: final.${wheel}) nvidiaWheels
      ++ lib.optional (name == "torchaudio") final.torch;
    autoPatchelfIgnoreMissingDeps = [ "libcuda.so.1" ];
  })
)
# The NVIDIA wheels find each other at run time (torch preloads them in order); their cross-references are
# not link-time dependencies of one wheel on another.
// lib.genAttrs nvidiaWheels (
  name:
  prev.${name}.overrideAttrs {
    autoPatchelfIgnoreMissingDeps = true;
  }
)
// lib.optionalAttrs (prev ? torchcodec) {
  # torchcodec ships one extension per FFmpeg major version (4 to 8) and loads the one whose libraries it
  # finds at run time, and its CUDA decoder needs torch's CUDA libraries: none of these is a link-time
  # dependency.
  torchcodec = prev.torchcodec.overrideAttrs {
    autoPatchelfIgnoreMissingDeps = true;
  };
}
// lib.optionalAttrs (prev ? pyside6-essentials) {
  # tubesum[desktop] (devshell only; the desktop app itself is frozen with scripts/build-desktop). The Qt
  # core libraries get their fonts, D-Bus, keyboard and GL libraries; platform and SQL-driver plugins that
  # need more (xcb, Wayland, MySQL, Oracle, ...) stay unresolved and are only loaded when used.
  pyside6-essentials = prev.pyside6-essentials.overrideAttrs (old: {
    buildInputs =
      (old.buildInputs or [ ])
      ++ (with pkgs; [
        fontconfig
        freetype
        dbus
        libxkbcommon
        libGL
        zlib
      ])
      # libshiboken6 and libpyside6 live in the shiboken6 wheel.
      ++ [ final.shiboken6 ];
    autoPatchelfIgnoreMissingDeps = true;
  });
}
