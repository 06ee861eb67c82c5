#!/usr/bin/env bash
# Side-by-side sweep of MA-REINFORCE variants on the real MNIST split (paper config 3 agents x 5 steps,
# window 6, batch 64, lr annealed along a cosine over the time budget). Every run starts at once with one
# torch thread, so all see the same contention; made for a machine with >= 14 cores. Where CUDA is
# available, three more runs train on the GPU (learned batch mean / self-critical / random walk).
#
#   MASIMU_REAL_DATA=/path/to/data MINUTES=7 bash benchmarks/mnist_sweep.sh      # logs and JSON in <repo>/sweep_out/
#
# EXTRA adds train_ma.py arguments to every run, e.g. EXTRA="--set combine=probs" for the mean-of-softmaxes p_bar
# that the README's GPU-machine table ran with (the default became the product of experts after it).
#
# Each run prints its final line through benchmarks/train_ma.py; the summary at the end collects them.
set -euo pipefail
: "${MASIMU_REAL_DATA:?set MASIMU_REAL_DATA to the folder holding mnist/}"
MINUTES="${MINUTES:-7}"
OUT="${OUT:-sweep_out}"
PYTHON="${PYTHON:-python}"
read -ra EXTRA_ARGS <<< "${EXTRA:-}"
cd "$(dirname "$0")/.."  # the repository root; OUT is relative to it
mkdir -p "$OUT"

run() {  # NAME then train_ma.py arguments
    local name=$1; shift
    "$PYTHON" benchmarks/train_ma.py --part mnist --minutes "$MINUTES" --cosine --threads 1 --verbose \
        --json "$OUT/$name.json" --set batch_size=64 ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} "$@" > "$OUT/$name.log" 2>&1 &
}

if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    run G_greedy --policy learned --set device=cuda --set baseline=greedy
    run G_mean --policy learned --set device=cuda
    run G_random --policy random --set device=cuda
fi
run C_mean_s0 --policy learned
run C_mean_s1 --policy learned --set seed=1
run C_greedy_s0 --policy learned --set baseline=greedy
run C_greedy_s1 --policy learned --set baseline=greedy --set seed=1
run C_random_s0 --policy random
run C_random_s1 --policy random --set seed=1
run C_greedy_h256 --policy learned --set baseline=greedy --set hidden_size=256
run C_greedy_wide --policy learned --set baseline=greedy --set conv_channels=64 --set feature_dim=256
run C_greedy_bs32 --policy learned --set baseline=greedy --set batch_size=32
run C_greedy_lr5 --policy learned --set baseline=greedy --set lr=0.005
run C_greedy_full --policy learned --set baseline=greedy --set detach_policy_input=false
wait
for log in "$OUT"/*.log; do
    printf '%-16s %s\n' "$(basename "$log" .log)" "$(grep -h '^\[mnist\]' "$log" || echo 'FAILED: see the log')"
done
