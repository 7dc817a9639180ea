# OCI images of `tubesum serve`, built by dockerTools.buildLayeredImage without a Docker daemon.
# Load one with `docker load < result` (or `podman load`). Each store path gets its own layer where
# possible, so a change to tubesum's own code only replaces the top layers and the Python/CUDA
# closure is reused.
{
  nixpkgs,
  pkgs,
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

  # What both images ship: the API and worker plus the outputs and stores a deployment uses. The
  # heavy ML extras (summarize, diarize: torch) stay out; a variant with them is one more
  # mkImage call with a longer extras list.
  imageExtras = [
    "pdf"
    "scale"
    "sentry"
  ];

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

  # ---- CPU: the free packages of `pkgs` only. ----
  pythonCpu = import ./python.nix { inherit pkgs; };
  tubesumCpu = pkgs.callPackage ./package.nix {
    python3Packages = pythonCpu.pkgs;
    extras = imageExtras;
  };

  # ---- CUDA: a separate nixpkgs instance, used for this image alone. ---- cuDNN and cuBLAS are
  # what CTranslate2 runs on; cudart and cuRAND are linked by it as well, cuDNN uses NVRTC for its
  # runtime-compiled kernels, and nvcc/CCCL (cuda_crt from CUDA 13 on) only compile it.
  # allowUnfreePredicate admits exactly these NVIDIA packages by name: no blanket allowUnfree, and
  # the CPU image, the devshell and the checks never see an unfree package. If a nixpkgs bump makes
  # the CUDA build need another NVIDIA redistributable, evaluation fails naming it; add it here
  # deliberately.
  cudaUnfree = [
    "cudnn"
    "libcublas"
    "cuda_cudart"
    "libcurand"
    "cuda_nvrtc"
    "cuda_nvcc"
    "cuda_cccl"
    "cuda_crt"
  ];
  pkgsCuda = import nixpkgs {
    inherit system;
    config.allowUnfreePredicate = pkg: lib.elem (lib.getName pkg) cudaUnfree;
  };
  pythonCuda = import ./python.nix {
    pkgs = pkgsCuda;
    cuda = true;
  };
  tubesumCuda = pkgsCuda.callPackage ./package.nix {
    python3Packages = pythonCuda.pkgs;
    extras = imageExtras;
    # pynvml for the GPU memory gauges on /metrics.
    extraDependencies = [ pythonCuda.pkgs.nvidia-ml-py ];
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
    p = pkgsCuda;
    tubesum = tubesumCuda;
    tag = "${project.version}-cuda";
    title = "tubesum-cuda";
    extraEnv = [
      # The driver (libcuda, libnvidia-ml) is never in the image: it must match the host's kernel
      # module. NixOS hosts expose it at /run/opengl-driver/lib; the NVIDIA Container Toolkit
      # (docker --gpus, CDI) mounts it into /usr/lib64 or /usr/lib/x86_64-linux-gnu. Nix's glibc
      # ignores /etc/ld.so.cache, so the search path is spelled out. cuDNN and cuBLAS come first
      # (they are also in CTranslate2's RUNPATH; listing them keeps cuDNN's dlopen of its
      # sub-libraries working and puts both in the image closure explicitly).
      "LD_LIBRARY_PATH=${cudaLibs}:/run/opengl-driver/lib:/usr/lib64:/usr/lib/x86_64-linux-gnu"
      # Read by the NVIDIA container runtime hook: expose all GPUs, with compute and NVML (utility)
      # libraries.
      "NVIDIA_VISIBLE_DEVICES=all"
      "NVIDIA_DRIVER_CAPABILITIES=compute,utility"
    ];
  };
}
