#!/usr/bin/env bash
# Data-parallel MA-REINFORCE with torchrun: 2 processes on CPU (gloo), or one per GPU (nccl).
# Every rank plays its shard of each epoch's images; DDP averages the gradients, so all ranks keep
# identical parameters. --batch-size is per rank. Rank 0 prints progress and writes the outputs.
#
#   bash examples/ddp_train.sh                 # digits, 2 CPU processes
#   NPROC=4 DATASET=mnist EXTRA="--root $MASIMU_REAL_DATA/mnist --split-from test" bash examples/ddp_train.sh
#   NPROC=2 EXTRA="--device cuda" bash examples/ddp_train.sh   # one process per GPU (nccl)
set -euo pipefail
NPROC="${NPROC:-2}"
DATASET="${DATASET:-digits}"
OUT="${OUT:-runs/ddp-${DATASET}}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
torchrun --standalone --nproc_per_node="${NPROC}" -m agents.train \
    --dataset "${DATASET}" --epochs "${EPOCHS:-10}" --out "${OUT}" ${EXTRA:-}
echo "metrics: ${OUT}/metrics.json"
