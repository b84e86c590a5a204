#!/usr/bin/env bash
# One session on a lent GPU machine (about 15 minutes of device time, no network there):
# full SST-2 with a teacher fine-tuned there: plain KD and SAGE (the SAGE/KD wall-time
# ratio) and the labels-only student, then student throughput and a profile. Carried in: .whl (wheels the
# image lacks), .device/minilm (the backbone in fp16), .device/glue/SST-2. Writes under $OUT.
set -uo pipefail
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export SAGE_DATA_DIR="$PWD/.device/glue" SAGE_CACHE_DIR=/tmp/sage-cache
OUT="${OUT:-runs/gpu}"
# MAX_TRAIN=300 EPOCHS=2 rehearses the whole script on a CPU in minutes.
MAX_TRAIN="${MAX_TRAIN:-}" EPOCHS="${EPOCHS:-10}"
subset=(); [ -n "$MAX_TRAIN" ] && subset=(--max-train "$MAX_TRAIN")
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c "import torch, transformers, umap; print('torch', torch.__version__, 'transformers', transformers.__version__, 'umap', umap.__version__)" | tee -a "$OUT/machine.txt"

finetune=(--set "teacher.finetune.backbone=$PWD/.device/minilm" --set teacher.finetune.batch_size=64 --set teacher.finetune.epochs=2)
python3 benchmarks/sage_vs_kd.py "${subset[@]}" --repeats 1 --epochs "$EPOCHS" --batch-size 256 --lr 3e-4 --fit-max 4000 "${finetune[@]}" \
  --output "$OUT/sst2" 2>&1 | grep -v "^Loading\|Writing model" | tee "$OUT/sage_vs_kd.log"

python3 -m sage.cli run examples/sst2-cpu.yaml --set "task.max_train=${MAX_TRAIN:-null}" --set "schedule.max_epochs=$EPOCHS" \
  --set schedule.agreement_target=1.0 --set schedule.batch_size=256 --set schedule.lr=3e-4 "${finetune[@]}" \
  --set "loss={name: labels}" --set schedule.synthetic_share=0 --set "output_dir=$OUT/sst2/labels" 2>&1 \
  | grep -v "^Loading\|Writing model" | tee "$OUT/labels.log"
python3 benchmarks/throughput.py "${subset[@]}" --backbone .device/minilm --batch-sizes 256 1024 4096 --compile-batch 1024 \
  --output "$OUT/throughput.json" 2>&1 | grep -v "^Loading\|MISSING\|LOAD REPORT" | tee "$OUT/throughput.log"

find "$OUT" -name "*.safetensors" -delete
