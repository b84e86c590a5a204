#!/usr/bin/env bash
# The runs behind docs/results-single-runs.md: SAGE, plain KD and labels-only students on SST-2 and RTE,
# sized for a 2-core CPU. Every run of a task shares one cached fine-tuned teacher.
set -euo pipefail
export HF_HUB_OFFLINE=1 SAGE_DATA_DIR="${SAGE_DATA_DIR:-../shared/glue}"
for task in sst2 rte; do
  spec="examples/${task}-cpu.yaml"
  sage run "$spec" --set "output_dir=runs/results-cpu/${task}-sage"
  sage run "$spec" --set schedule.synthetic_share=0 --set "output_dir=runs/results-cpu/${task}-kd"
  sage run "$spec" --set "loss={name: labels}" --set schedule.synthetic_share=0 --set "output_dir=runs/results-cpu/${task}-labels"
done
