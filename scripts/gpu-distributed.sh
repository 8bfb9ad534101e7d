#!/usr/bin/env bash
# On the 2-GPU machine (device kind nvidia-h200-x2): the data-parallel measurements of
# docs/distributed.md (issue 21). Builds ssmlab_launch and mamba_train with NCCL into build-gpu/
# (scripts/gpu-build.sh; nccl.h from the nvidia-nccl wheel next to the pip LibTorch), then for each
# model of $MODELS (MambaLM-130M shape: d 768, 24 layers, N 16; GPT-NeoX of the same size: d 768,
# 12 layers, 12 heads), L=2048, bf16 autocast, vocab 50280, recall data (random tokens, the cost of a
# step does not depend on them):
#   1gpu_b2P   one GPU, batch 2P         the reference loss curve (global batch 2P)
#   2gpu_bP    two GPUs (ssmlab_launch), batch P per GPU: the same global batch 2P -> loss curve
#              against 1gpu_b2P; tokens/s over both GPUs; all-reduce ms per step (allreduce_ms)
#   1gpu_bP    one GPU, batch P          tokens/s of one GPU at the per-GPU batch (speedup = 2gpu_bP / 1gpu_bP)
# Results: $OUT/distributed.tar.gz (JSONL logs, stderr of every run, summary.json, an overlay plot if
# matplotlib is there, the configure line naming the backends) and $OUT/summary.txt.
# Run (with carry ["build-gpudeps"], after ./scripts/gpu-deps.sh here):
#   tar -xJf build-gpudeps/deps.tar.xz && OUT=$OUT ./scripts/gpu-distributed.sh
# Knobs: MODELS ("mamba_simple transformer"), STEPS (150), PER_GPU_BATCH P (8), SEQ_LEN (2048),
# RUN_TIMEOUT_S (240 per run). Two calls fit the 10-minute limit better: MODELS=mamba_simple, then
# MODELS=transformer (the build is reused while the machine stays warm).
# The NCCL side of models/distributed.cpp (LibTorch 2.x) was never compiled before this script's
# first run: a build error there is the first thing to look at (build-gpu/build.log, in the tarball).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
WORK=$OUT/distributed; rm -rf "$WORK"; mkdir -p "$WORK"
source .deps/env.sh
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}  # NVLink multicast stays off on shared hosts
t0=$(date +%s)
note() { echo "[gpu-dist] $* ($(( $(date +%s) - t0 )) s)" | tee -a "$WORK/steps.txt"; }
pack() {
  cp build-gpu/configure.log build-gpu/build.log "$WORK/" 2>/dev/null
  tar -czf "$OUT/distributed.tar.gz" -C "$OUT" distributed && rm -rf "$WORK"
  note "packed $OUT/distributed.tar.gz"
}
nvidia-smi -L | tee "$WORK/gpus.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "nccl", torch.cuda.nccl.version())' | tee -a "$WORK/gpus.txt"
if [ -z "${NCCL_INCLUDE_DIR:-}" ]; then
  NCCL_INCLUDE_DIR=$(python3 - <<'PY'
import glob, os, site
for d in site.getsitepackages() + [site.getusersitepackages()]:
    hits = sorted(glob.glob(os.path.join(d, "nvidia", "**", "nccl.h"), recursive=True))
    if hits:
        print(os.path.dirname(hits[0]))
        break
PY
)
  export NCCL_INCLUDE_DIR
fi
note "nccl.h in ${NCCL_INCLUDE_DIR:-(not found)}"
if [ -f build-gpu/CMakeCache.txt ]; then  # a configure from before: point it at nccl.h too
  cmake -S . -B build-gpu -DSSMLAB_NCCL_INCLUDE_DIR="$NCCL_INCLUDE_DIR" > build-gpu/reconfigure.log 2>&1
fi
if ! ./scripts/gpu-build.sh ssmlab_launch mamba_train; then note "build FAILED"; pack; exit 1; fi
grep -h "data-parallel backends" build-gpu/configure.log build-gpu/reconfigure.log 2>/dev/null | tail -1 | tee -a "$WORK/steps.txt"
note build done

B=build-gpu/bin
STEPS=${STEPS:-150}; P=${PER_GPU_BATCH:-8}; L=${SEQ_LEN:-2048}; TO=${RUN_TIMEOUT_S:-240}
COMMON=(--dataset recall --seq-len "$L" --gap 16 --recall-vocab 50280 --train-max-samples $((STEPS * 2 * P))
        --val-max-samples 16 --steps "$STEPS" --warmup 10 --lr 6e-4 --min-lr 6e-5 --log-every 10
        --eval-every "$STEPS" --threads 4 --device cuda --seed 0 --quiet)
rc=0
for m in ${MODELS:-mamba_simple transformer}; do
  case $m in
    mamba_simple) SHAPE=(--d-model 768 --n-layer 24 --d-state 16) ;;
    transformer) SHAPE=(--d-model 768 --n-layer 12 --n-head 12) ;;
    *) note "unknown model $m"; rc=1; continue ;;
  esac
  run() {  # name, then the command
    local name=$1; shift
    timeout "$TO" "$@" --log "$WORK/${m}_$name.jsonl" > "$WORK/${m}_$name.out" 2>&1
    local s=$?; note "$m $name exit $s"; [ $s -eq 0 ] || rc=1
    grep -h "error" "$WORK/${m}_$name.out" | head -5
  }
  CUDA_VISIBLE_DEVICES=0 run "1gpu_b$((2 * P))" $B/mamba_train --model "$m" "${SHAPE[@]}" "${COMMON[@]}" --batch-size $((2 * P))
  run "2gpu_b$P" $B/ssmlab_launch --nproc-per-node 2 --master-port 0 -- \
    $B/mamba_train --model "$m" "${SHAPE[@]}" "${COMMON[@]}" --batch-size "$P"
  CUDA_VISIBLE_DEVICES=0 run "1gpu_b$P" $B/mamba_train --model "$m" "${SHAPE[@]}" "${COMMON[@]}" --batch-size "$P"
done

# Summary: tokens/s (median of the step windows after the first), the 2-GPU speedup at the same
# per-GPU batch, the largest loss difference between the two curves of one global batch, all-reduce ms.
python3 - "$WORK" "$P" > "$WORK/summary.txt" 2>&1 <<'PY'
import glob, json, os, statistics, sys
work, P = sys.argv[1], int(sys.argv[2])
def steps(f):
    out = []
    for line in open(f):
        try: r = json.loads(line)
        except ValueError: continue
        if r.get("record") == "step": out.append(r["metrics"])
    return out
summary = {}
for m in ("mamba_simple", "transformer"):
    runs = {}
    for f in glob.glob(os.path.join(work, m + "_*.jsonl")):
        name = os.path.basename(f)[len(m) + 1:-6]
        s = steps(f)
        if not s: continue
        tps = [x["tokens_per_s"] for x in s[1:]] or [s[0]["tokens_per_s"]]
        runs[name] = {"tokens_per_s": statistics.median(tps), "curve": [(x["step"], x["loss"]) for x in s],
                      "allreduce_ms": statistics.median([x["allreduce_ms"] for x in s[1:]]) if "allreduce_ms" in s[0] and len(s) > 1 else None,
                      "global_batch": s[0].get("global_batch")}
    if not runs: continue
    r = {k: {"tokens_per_s": v["tokens_per_s"], "allreduce_ms": v["allreduce_ms"], "final_loss": v["curve"][-1][1]} for k, v in runs.items()}
    one, two, ref = runs.get("1gpu_b%d" % P), runs.get("2gpu_b%d" % P), runs.get("1gpu_b%d" % (2 * P))
    if one and two: r["speedup_2gpu"] = two["tokens_per_s"] / one["tokens_per_s"]
    if two and ref:
        a, b = dict(two["curve"]), dict(ref["curve"])
        common = sorted(set(a) & set(b))
        r["max_abs_loss_diff_2gpu_vs_1gpu_same_global_batch"] = max(abs(a[k] - b[k]) for k in common) if common else None
    summary[m] = r
    print(m, json.dumps(r, indent=1))
    try:
        import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        plt.figure(figsize=(7, 4))
        for name in ("1gpu_b%d" % (2 * P), "2gpu_b%d" % P):
            if name in runs:
                xs, ys = zip(*runs[name]["curve"])
                plt.plot(xs, ys, marker="o" if name.startswith("1") else "x", linestyle="-" if name.startswith("1") else "--", label=name)
        plt.xlabel("step"); plt.ylabel("training loss (nats/token)"); plt.title(m + ": 2 GPUs vs 1 GPU, global batch %d" % (2 * P))
        plt.legend(); plt.tight_layout(); plt.savefig(os.path.join(work, m + "_loss_overlay.png"), dpi=110)
    except Exception as e:
        print("no overlay plot:", e)
json.dump(summary, open(os.path.join(work, "summary.json"), "w"), indent=1)
PY
cat "$WORK/summary.txt"; cp "$WORK/summary.txt" "$OUT/summary.txt"
pack
exit $rc
