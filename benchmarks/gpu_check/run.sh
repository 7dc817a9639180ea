#!/usr/bin/env bash
# The device side of the GPU check (issue 21). Run from the repository root of the carried checkout:
#   bash .gpu-carry/gpu_check/run.sh            (OUT set by the device tool; else ./gpu-check-out)
# .gpu-carry holds: whl/ (wheels), src/tubesum, tests/, pyproject.toml, tok/tokenizer.json, gpu_check/ (this folder).
set -u
C="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$PWD/gpu-check-out}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYANNOTE_METRICS_ENABLED=0 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export GPU_CHECK_TMP=/tmp/gpucheck GPU_CHECK_ROOT="$C"
mkdir -p /tmp/gpucheck
{
  date -u; nvidia-smi || true
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$C"/whl/*.whl 2>&1 | tail -5
  echo "pip rc=$?"
} > "$OUT/setup.log" 2>&1
# CTranslate2 4.8.5 dlopens libcublas.so.12 and looks up 9 cuBLAS functions by name; CUDA 13's cuBLAS has them all.
CUBLAS=$(python3 -c "import glob,site,sys;c=[p for d in sys.path+site.getsitepackages() for p in glob.glob(d+'/nvidia/**/libcublas.so.13*',recursive=True)];print(c[0] if c else '')" 2>/dev/null)
if [ -n "$CUBLAS" ]; then
  mkdir -p /tmp/cu12 && ln -sf "$CUBLAS" /tmp/cu12/libcublas.so.12
  export LD_LIBRARY_PATH="/tmp/cu12:$(dirname "$CUBLAS")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GPU_CHECK_CUBLAS12="libcublas.so.12 -> $CUBLAS"
fi
echo "cublas: ${GPU_CHECK_CUBLAS12:-none found}" >> "$OUT/setup.log"
export PYTHONPATH="$C/src:/tmp/site:$C/gpu_check/av_shim"
export PATH="/tmp/site/bin:$PATH"
timeout "${GPU_CHECK_LIMIT:-470}" python3 "$C/gpu_check/gpu_check.py" all --out "$OUT" ${GPU_CHECK_STEPS:+--steps $GPU_CHECK_STEPS}
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm,temperature.gpu --format=csv >> "$OUT/setup.log" 2>&1
ls -la "$OUT"
