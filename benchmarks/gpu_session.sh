#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (about 15 minutes of device time, no network there).
#
#   benchmarks/gpu_session.sh prepare      here, once: .whl (the wheels the device image lacks) and
#                                          .device (the backbone in fp16, SST-2's TSVs); about 40 MiB
#   device run: command "benchmarks/gpu_session.sh", carry [".whl", ".device"], timeout_s 570
#   REHEARSE=1 benchmarks/gpu_session.sh   the same steps on a CPU at tiny sizes, in minutes
#
# On the device it writes under $OUT (8 files at most come back):
#   1. benchmarks/sst2-gpu.yaml through `sage bench`: the teacher fine-tuned on full SST-2, then plain
#      KD, SAGE as described and adversarial, 3 seeds each (evidence/results.json, results.md, plot);
#      each row's total_seconds gives the SAGE/KD wall-time ratio, seed by seed;
#   2. student throughput, bucketed against padded (throughput.json);
#   3. with two or more GPUs, one run over NCCL under torchrun (in session.log).
# The bench resumes: a second call on the still-warm machine continues where the first stopped.
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
  mkdir -p .device/glue/SST-2 && cp "${SAGE_DATA_DIR:-../shared/glue}"/SST-2/{train,dev}.tsv .device/glue/SST-2/
  grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
  du -sh .whl .device
  exit 0
fi

export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1 SAGE_CACHE_DIR=/tmp/sage-cache
export SAGE_DATA_DIR="$PWD/.device/glue"
OUT="$(realpath -m "${OUT:-runs/gpu}")"
mkdir -p "$OUT" runs
config=benchmarks/sst2-gpu.yaml
if [ -n "${REHEARSE:-}" ]; then
  # The same bench at a CPU's size: 300 sentences, a teacher on them alone, 2 epochs, one seed.
  config="$OUT/rehearsal.yaml"
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
  export PYTHONPATH="/tmp/site:$PWD"
  subset=() batches=(--batch-sizes 256 1024 4096 --compile-batch 1024)
fi
log="$OUT/session.log"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  python3 -c "import torch, transformers, umap; print('torch', torch.__version__, 'transformers', transformers.__version__, 'umap', umap.__version__)"
} | tee "$OUT/machine.txt"
quiet() { grep -v "^Loading\|Writing model\|MISSING\|LOAD REPORT\|^Key \|^---\|^Notes:\|^- MISSING\|^classifier\|^$"; }

# 1. The evidence rows, written straight into $OUT so that what finished comes back even at the time limit.
mkdir -p "$OUT/evidence" && rm -rf runs/gpu-evidence && ln -s "$OUT/evidence" runs/gpu-evidence
python3 -m sage bench "$config" 2>&1 | quiet | tee -a "$log"

# 2. Student throughput on full SST-2, bucketed against padded.
python3 benchmarks/throughput.py "${subset[@]}" --backbone .device/minilm "${batches[@]}" \
  --output "$OUT/throughput.json" 2>&1 | quiet | tee -a "$log"

# 3. NCCL: one run over every GPU of the machine (a single GPU would take the one-process path).
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -ge 2 ]; then
  torchrun --standalone --nproc-per-node "$gpus" -m sage run examples/sst2-cpu.yaml --set device=cuda \
    --set task.max_train=4000 --set schedule.max_epochs=3 --set teacher.finetune.backbone=.device/minilm \
    --set output_dir="$PWD/runs/gpu-nccl" --overwrite 2>&1 | quiet | tail -40 | tee -a "$log"
else
  echo "NCCL run skipped: $gpus GPU(s); it needs two or more" | tee -a "$log"
fi
rm -f runs/gpu-evidence
