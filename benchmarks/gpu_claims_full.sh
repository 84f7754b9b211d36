#!/usr/bin/env bash
# The `full` protocol of the claims study on one GPU machine, in one command.
#
#   benchmarks/gpu_claims_full.sh [OUT] [more flags of python -m empirics.claims]
#
# Runs `python -m empirics.claims --size full` (synthetic 3 x 32 x 32 images, 50,000
# training samples, ResNet-18, B up to 1024, 10,000-step long runs, 12 seeds; CIFAR-10 for
# the base run with --data-root PATH) with a local pool of WORKERS processes sharing the
# GPU, under a wall-clock limit of LIMIT seconds (default 460: the whole script ends inside
# 8 minutes), then draws the summary figure (python -m figures claims, a separate step).
# Nothing is read from outside the machine: the data are generated (or read from PATH).
# A study stopped at the limit keeps every finished run (SIGTERM is a Ctrl+C to it);
# running the script again resumes it and reruns nothing finished.
#
# Writes OUT/ (default claims-full): the study's claims.csv, claims.md, claims_seeds.csv,
# theorem_checks.csv, runs.csv, claims.png/.pdf, and gpu_run.json (device, wall time, exit
# status, limit).
#
# Environment: SIZE (default full; `tiny` is the CPU smoke test the tests run), WORKERS
# (default 12), EXECUTOR (default local; serial runs in one process), LIMIT (default
# 460 s), DEVICE (default auto: CUDA when present), PYTHON (default python).
set -u
OUT=${1:-claims-full}
shift $(( $# > 0 ? 1 : 0 ))
SIZE=${SIZE:-full}
WORKERS=${WORKERS:-12}
EXECUTOR=${EXECUTOR:-local}
LIMIT=${LIMIT:-460}
DEVICE=${DEVICE:-auto}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

# the device, without importing torch here (nvidia-smi where there is a GPU)
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
        > "$OUT/gpu_device.txt" 2>&1 || true
else
    echo "no GPU (nvidia-smi not found)" > "$OUT/gpu_device.txt"
fi

start=$(date +%s.%N)
timeout --signal=TERM --kill-after=20 "$LIMIT" \
    "$PYTHON" -m empirics.claims --out "$OUT" --size "$SIZE" \
    --executor "$EXECUTOR" --workers "$WORKERS" --device "$DEVICE" "$@"
rc=$?
end=$(date +%s.%N)
if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then  # the study finished (a run may have failed)
    "$PYTHON" -m figures claims --claims "$OUT" --out "$OUT" >&2 || rc=1
fi

"$PYTHON" - "$OUT" "$rc" "$start" "$end" "$LIMIT" "$SIZE" "$WORKERS" "$EXECUTOR" <<'PY'
import json, os, sys
out, rc, start, end, limit, size, workers, executor = sys.argv[1:]
device = open(os.path.join(out, "gpu_device.txt")).read().strip()
rec = {"size": size, "executor": executor, "workers": int(workers), "exit_status": int(rc),
       "wall_seconds": round(float(end) - float(start), 1), "limit_seconds": int(limit),
       "stopped_at_limit": int(rc) in (124, 130, 137),
       "load_average": os.getloadavg(), "device": device, "cpus": os.cpu_count()}
json.dump(rec, open(os.path.join(out, "gpu_run.json"), "w"), indent=2)
print(json.dumps(rec), file=sys.stderr)
PY
if [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] || [ "$rc" -eq 137 ]; then
    echo "gpu_claims_full: stopped at the ${LIMIT} s limit; finished runs are kept, run the" \
         "same command again to resume" >&2
fi
exit "$rc"
