# OCI images of `tubesum serve`, built by dockerTools.buildLayeredImage without a Docker daemon.
# Load one with `docker load < result` (or `podman load`). Each store path gets its own layer where
# possible, so a change to tubesum's own code only replaces the top layers and the Python/CUDA
# closure is reused.
{
  nixpkgs,
  pkgs,
  python,
  system,
  revision,
  withCuda,
}:
let
  inherit (pkgs) lib;
  project = (lib.importTOML ../pyproject.toml).project;

  # The service account. A fixed, non-zero uid/gid so volume permissions can be prepared on the host
  # (`chown 10001:10001`); a passwd entry because Python (getpass, ~ expansion) and yt-dlp look the
  # user up.
  uid = 10001;
  gid = 10001;
  user = "tubesum";
  home = "/home/${user}";

  # What both images ship: the API and SAQ workers (scale: saq, psycopg, redis) plus the outputs and stores a
  # deployment uses. The heavy ML extras (summarize, diarize: torch) stay out; a variant with them is one more
  # mkImage call with a longer extras list.
  imageExtras = [
    "pdf"
    "scale"
    "sentry"
  ];
  # nvidia-ml-py (pynvml, GPU memory gauges on /metrics) for the CUDA image, once pyproject.toml has a `gpu`
  # extra that uv.lock pins; until then the gauges report nothing (tubesum imports pynvml optionally).
  cudaExtras = imageExtras ++ lib.optional (project.optional-dependencies ? gpu) "gpu";

  # Fonts for the PDF renderer (Cairo via fontconfig): nixpkgs' DejaVu, found through a fontconfig file.
  fontsConf = pkgs.makeFontsConf { fontDirectories = [ pkgs.dejavu_fonts ]; };

  mkImage =
    {
      p,
      tubesum,
      tag,
      title,
      extraEnv ? [ ],
    }:
    p.dockerTools.buildLayeredImage {
      name = "tubesum";
      inherit tag;
      # `created` keeps its default (the epoch): the same inputs give a bit-identical image.

      contents = [
        # bin/tubesum at /bin/tubesum, so the entrypoint needs no store path.
        tubesum
        # /etc/passwd, /etc/group (root, nobody, tubesum) and /etc/nsswitch.conf.
        (p.dockerTools.fakeNss.override {
          extraPasswdLines = [
            "${user}:x:${toString uid}:${toString gid}:${user}:${home}:/sbin/nologin"
          ];
          extraGroupLines = [ "${user}:x:${toString gid}:" ];
        })
        # /etc/ssl/certs/ca-bundle.crt for yt-dlp, httpx and the Hugging Face hub.
        p.cacert
      ];

      # Writable directories. Modes set here survive; ownership needs fakeRootCommands (run under
      # fakeroot).
      extraCommands = ''
        mkdir -p tmp models data outputs .${home}
        chmod 1777 tmp
      '';
      fakeRootCommands = ''
        chown -R ${toString uid}:${toString gid} models data outputs .${home}
      '';

      config = {
        User = "${toString uid}:${toString gid}";
        Entrypoint = [ "tubesum" ];
        Cmd = [ "serve" ];
        WorkingDir = "/data";
        Env = [
          "PATH=/bin"
          "HOME=${home}"
          # Listen on all interfaces inside the container; publish the port to choose who can reach
          # it.
          "TUBESUM_HOST=0.0.0.0"
          "TUBESUM_PORT=8000"
          "TUBESUM_MODEL_CACHE_DIR=/models"
          "TUBESUM_DATA_DIR=/data"
          "TUBESUM_OUTPUT_DIR=/outputs"
          # Hub downloads (pyannote, summary models) land in the models volume too.
          "HF_HOME=/models/huggingface"
          "SSL_CERT_FILE=${p.cacert}/etc/ssl/certs/ca-bundle.crt"
          "FONTCONFIG_FILE=${fontsConf}"
          "PYTHONUNBUFFERED=1"
        ]
        ++ extraEnv;
        ExposedPorts = {
          "8000/tcp" = { };
        };
        Volumes = {
          "/models" = { };
          "/data" = { };
          "/outputs" = { };
        };
        Labels = {
          "org.opencontainers.image.title" = title;
          "org.opencontainers.image.description" = project.description;
          "org.opencontainers.image.source" = project.urls.Homepage;
          "org.opencontainers.image.url" = project.urls.Homepage;
          "org.opencontainers.image.version" = project.version;
          "org.opencontainers.image.revision" = revision;
          "org.opencontainers.image.licenses" = project.license;
        };
      };
    };

  # ---- CPU: the free packages of `pkgs` only; the Python environment from uv.lock (python.nix). ----
  tubesumCpu = pkgs.callPackage ./package.nix {
    inherit python;
    extras = imageExtras;
  };

  # ---- CUDA: the same environment (uv.lock's CTranslate2 wheel has CUDA built in and dlopens cuBLAS 12 and
  # cuDNN 9 at run time), plus those two libraries from nixpkgs' cudaPackages (CUDA 12 redistributables,
  # prebuilt, nothing compiled). Not uv.lock's nvidia-* wheels: those are CUDA 13 (torch's), and only in the
  # summarize/diarize extras that the images do not ship. A second nixpkgs instance, for these libraries
  # alone, whose allowUnfreePredicate admits exactly them by name: no blanket allowUnfree, and the CPU
  # image, the devshell and the checks never see an unfree package. ----
  cudaUnfree = [
    "cudnn"
    "libcublas"
  ];
  pkgsCuda = import nixpkgs {
    inherit system;
    config.allowUnfreePredicate = pkg: lib.elem (lib.getName pkg) cudaUnfree;
  };
  tubesumCuda = pkgs.callPackage ./package.nix {
    inherit python;
    extras = cudaExtras;
  };
  cudaLibs = lib.makeLibraryPath [
    pkgsCuda.cudaPackages.cudnn
    pkgsCuda.cudaPackages.libcublas
  ];
in
{
  image-cpu = mkImage {
    p = pkgs;
    tubesum = tubesumCpu;
    tag = project.version;
    title = "tubesum";
  };
}
// lib.optionalAttrs withCuda {
  image-cuda = mkImage {
    p = pkgs;
    tubesum = tubesumCuda;
    tag = "${project.version}-cuda";
    title = "tubesum-cuda";
    extraEnv = [
      # The driver (libcuda, libnvidia-ml) is never in the image: it must match the host's kernel
      # module. NixOS hosts expose it at /run/opengl-driver/lib; the NVIDIA Container Toolkit
      # (docker --gpus, CDI) mounts it into /usr/lib64 or /usr/lib/x86_64-linux-gnu. Nix's glibc
      # ignores /etc/ld.so.cache, so the search path is spelled out. cuDNN and cuBLAS come first:
      # the CTranslate2 wheel dlopens libcublas.so.12 and cuDNN 9 by name, and this puts both in the
      # image closure.
      "LD_LIBRARY_PATH=${cudaLibs}:/run/opengl-driver/lib:/usr/lib64:/usr/lib/x86_64-linux-gnu"
      # Read by the NVIDIA container runtime hook: expose all GPUs, with compute and NVML (utility)
      # libraries.
      "NVIDIA_VISIBLE_DEVICES=all"
      "NVIDIA_DRIVER_CAPABILITIES=compute,utility"
    ];
  };
}
