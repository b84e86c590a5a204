#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (about 15 minutes of device time, no network there).
#
#   benchmarks/gpu_session.sh prepare      here, once: .whl (the wheels the device image lacks) and
#                                          .device (the backbone in fp16, SST-2's TSVs, the commit); about 55 MiB
#   device run: command "SESSION_SECONDS=500 benchmarks/gpu_session.sh", carry [".whl", ".device"], timeout_s 560
#   REHEARSE=1 benchmarks/gpu_session.sh   the same steps on a CPU at tiny sizes, in minutes
#
# On the device it writes under $OUT (8 files at most come back):
#   1. student throughput on full SST-2, bucketed against padded (throughput.json), first because it is
#      short and certain;
#   2. benchmarks/sst2-gpu.yaml through `sage bench`: the teacher fine-tuned on full SST-2, then plain
#      KD, SAGE as described, adversarial and the scale table's pool method, 3 seeds each
#      (evidence/results.json, results.md, plot); each row's total_seconds gives its wall-time ratio
#      to KD, seed by seed;
#   3. with two or more GPUs, one run over NCCL under torchrun (in session.log).
# The script stops its own bench SESSION_SECONDS after it starts (default 500), before the tool's
# limit, so that the report is still written. What finished is kept in /tmp/gpu-keep: a second call
# on the still-warm machine continues the bench where the first stopped and returns every row.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = prepare ]; then
  set -e
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    umap-learn==0.5.12 pynndescent==0.7.0 catalogue==2.0.10 pydantic==2.14.4 pydantic_core==2.50.5 \
    annotated-types==0.8.0 typing-inspection==0.4.5 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 openTSNE==1.0.4
  HF_HUB_OFFLINE=1 python3 -c "
import torch
from transformers import AutoModel, AutoTokenizer
from sage.models.finetune import default_backbone
AutoModel.from_pretrained(default_backbone(), dtype=torch.float16).save_pretrained('.device/minilm')
AutoTokenizer.from_pretrained(default_backbone()).save_pretrained('.device/minilm')"
  # The device receives the working tree without .git; the rows it writes carry this commit instead.
  echo "$(git rev-parse --short HEAD)$(git status --porcelain -- sage | grep -q . && echo +changes)" > .device/commit
  mkdir -p .device/glue/SST-2 && cp "${SAGE_DATA_DIR:-../shared/glue}"/SST-2/{train,dev}.tsv .device/glue/SST-2/
  grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
  du -sh .whl .device
  exit 0
fi

export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1 SAGE_CACHE_DIR=/tmp/sage-cache
export SAGE_DATA_DIR="$PWD/.device/glue"
deadline=$((SECONDS + ${SESSION_SECONDS:-500}))
OUT="$(realpath -m "${OUT:-runs/gpu}")"
keep=/tmp/gpu-keep  # survives between calls on a warm machine; $OUT is emptied before each
config=benchmarks/sst2-gpu.yaml
if [ -n "${REHEARSE:-}" ]; then
  # The same bench at a CPU's size: 300 sentences, a teacher on them alone, 2 epochs, one seed.
  config="$OUT/rehearsal.yaml" keep="$PWD/runs/gpu-keep"
  mkdir -p "$OUT"
  python3 - benchmarks/sst2-gpu.yaml "$config" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["seeds"] = [0]
config["base"]["device"] = "cpu"
config["base"]["teacher"]["finetune"] |= {"epochs": 1, "full_train": False}
config["base"]["schedule"] |= {"max_epochs": 2, "batch_size": 32}
config["tasks"]["sst2"]["task"] |= {"max_train": 300, "holdout": 100}
yaml.safe_dump(config, open(sys.argv[2], "w"))
EOF
  subset=(--max-train 300) batches=(--batch-sizes 32)
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD" SAGE_CODE_VERSION="$(cat .device/commit)"
  subset=() batches=(--batch-sizes 256 1024 4096)
fi
mkdir -p "$OUT" runs "$keep"
log="$OUT/session.log"
cp "$keep/session.log" "$log" 2>/dev/null
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  python3 -c "import torch, transformers, umap, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'umap', umap.__version__, 'datasets', datasets.__version__)"
  echo "sage commit ${SAGE_CODE_VERSION:-of this checkout}; $(nproc) CPU cores"
} 2>&1 | tee "$OUT/machine.txt" | tee -a "$log"
quiet() { grep --line-buffered -v "^Loading\|Writing model\|MISSING\|LOAD REPORT\|^Key \|^---\|^Notes:\|^- MISSING\|^classifier\|^$"; }
left() { echo $((deadline - SECONDS)); }

# 1. Student throughput on full SST-2, bucketed against padded; once per machine, first because it is short.
if [ -f "$keep/throughput.json" ]; then
  cp "$keep/throughput.json" "$OUT/"
else
  timeout 120 python3 benchmarks/throughput.py "${subset[@]}" --backbone .device/minilm "${batches[@]}" \
    --output "$OUT/throughput.json" 2>&1 | quiet | tee -a "$log"
  cp "$OUT/throughput.json" "$keep/" 2>/dev/null
fi

# 2. The evidence rows, written straight into $OUT and resumed from what an earlier call on this
#    machine finished. The bench is stopped at the deadline (the run in progress resumes from its
#    checkpoint next call); the report is then written from the rows that finished.
mkdir -p "$OUT/evidence" && rm -rf runs/gpu-evidence && ln -s "$OUT/evidence" runs/gpu-evidence
cp "$keep/results.json" "$OUT/evidence/" 2>/dev/null
echo "bench: $(left) s left in this call" | tee -a "$log"
timeout "$(left)" python3 -m sage bench "$config" 2>&1 | quiet | tee -a "$log"
[ "${PIPESTATUS[0]}" = 124 ] && echo "bench stopped at this call's deadline; call again to continue" | tee -a "$log"
cp "$OUT/evidence/results.json" "$keep/" 2>/dev/null
python3 -m sage bench "$config" --report-only 2>&1 | quiet | tail -3 | tee -a "$log"

# 3. NCCL: one run over every GPU of the machine (a single GPU would take the one-process path).
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -ge 2 ] && [ "$(left)" -gt 120 ]; then
  torchrun --standalone --nproc-per-node "$gpus" -m sage run examples/sst2-cpu.yaml --set device=cuda \
    --set task.max_train=4000 --set schedule.max_epochs=3 --set teacher.finetune.backbone=.device/minilm \
    --set output_dir="$PWD/runs/gpu-nccl" --overwrite 2>&1 | quiet | tail -40 | tee -a "$log"
else
  echo "NCCL run skipped: $gpus GPU(s), $(left) s left; it needs two or more GPUs and 120 s" | tee -a "$log"
fi
rm -f runs/gpu-evidence
cp "$log" "$keep/"
