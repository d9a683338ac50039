#!/bin/bash
# Fine-tune the demo detector at the served scale on a bare GPU machine (how run `vehicles-960` was made).
#
# The machine has a system python3 with torch (CUDA), OpenCV, NumPy and PyYAML but no project
# venv and no package index, so this runs the two project commands' modules directly
# (`itscam model dataset`, the `itscam model train` worker) instead of the `itscam` CLI.
# Bring the ultralytics wheels in .whl/ (ultralytics, ultralytics-thop, ultralytics-platform at
# the versions in requirements/train.in; see the README's detector section) and
# runs/detect/vehicles-far/weights/best.pt. polars (a 54 MB wheel) is replaced by
# scripts/gpu/stub: ultralytics only reads its results.csv with it, inside a try block.
# Outputs (best.pt, last.pt, results.csv, args.yaml, logs) go to $OUT.
# Knobs: NTRAIN (8000), EPOCHS (60, fitted to the deadline), BUDGET (430 s from the start), LR0, DEV,
# INIT (the checkpoint to start from, carried in; vehicles-far's best.pt), NAME (run name, far960).
set -x -o pipefail
T0=$(date +%s)
OUT=${OUT:-runs/detect/gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=$PWD/scripts/gpu/stub:/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L; nproc; python3 -c "import torch, cv2, numpy; print(torch.__version__, cv2.__version__, numpy.__version__)"
python3 -m itscam.model.dataset --out /tmp/data --train ${NTRAIN:-8000} --val 200 --splits train,val --jobs 15 | tee $OUT/dataset.json || exit 4
echo "dataset at $(( $(date +%s) - T0 )) s"
python3 itscam/model/yolo_train_worker.py --data /tmp/data/data.yaml --project /tmp/runs --name ${NAME:-far960} \
  --init ${INIT:-runs/detect/vehicles-far/weights/best.pt} --imgsz 960 --epochs ${EPOCHS:-60} --batch 32 --workers 14 \
  --threads 4 --device ${DEV:-0} --close-mosaic 3 --lr0 ${LR0:-0.00125} --warmup-epochs 1 --warmup-bias-lr 0 \
  --deadline $(( T0 + ${BUDGET:-430} )) --config-dir /tmp/ucfg 2>&1 | tr '\r' '\n' | grep -v "it/s" | tail -c 200000 > $OUT/train.log
echo "trained at $(( $(date +%s) - T0 )) s"
tail -40 $OUT/train.log
cp /tmp/runs/${NAME:-far960}/weights/best.pt /tmp/runs/${NAME:-far960}/weights/last.pt \
  /tmp/runs/${NAME:-far960}/results.csv /tmp/runs/${NAME:-far960}/args.yaml $OUT/ 2>&1
ls -la $OUT
