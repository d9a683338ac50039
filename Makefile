# ITS Camera AI -- `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
TVENV := .venv-triton
BIN := $(VENV)/bin
UV := $(BIN)/uv
export GX_ANALYTICS_ENABLED := false
export DAGSTER_HOME ?= $(CURDIR)/.itscam/dagster_home
export YOLO_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: all setup venv system demo test test-fast up down status lint format lock dagster bench train clean

all: test

# --- environments (stamp files make a second run a no-op) -----------------
# Byte-compile what was installed: uv installs no .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set (as on the CI machines) Python never writes them,
# so every process -- each stream worker, Dagster run and CLI call -- compiled
# faust, scipy, dagster... from source again (0.7-1.0 s per start; the unit tests
# took 74 s instead of 65). Python reads .pyc files whatever that variable says.
# ~20 s once; the few Python 2 files some packages ship (skvideo) fail and are skipped.
compile = $(1) -m compileall -q -q -j 2 $(2) || true
$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==0.13.9

$(VENV)/.stamp: requirements/main.txt requirements/broker.txt pyproject.toml | $(BIN)/python
	$(UV) pip install -q --python $(BIN)/python -r requirements/main.txt
	$(UV) pip install -q --python $(BIN)/python --require-hashes -r requirements/broker.txt
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	$(call compile,$(BIN)/python,$(VENV)/lib itscam streaming platform)
	touch $@

$(TVENV)/.stamp: requirements/triton.txt | $(BIN)/python
	test -x $(TVENV)/bin/python || $(PY) -m venv $(TVENV)
	$(UV) pip install -q --python $(TVENV)/bin/python -r requirements/triton.txt
	$(call compile,$(TVENV)/bin/python,$(TVENV)/lib)
	touch $@

venv: $(VENV)/.stamp $(TVENV)/.stamp

system:
	@bash scripts/install-system-packages.sh

setup: system venv

lock:
	$(UV) pip compile -q --no-header --no-annotate -p 3.11 requirements/main.in -o requirements/main.txt
	$(UV) pip compile -q --no-header --no-annotate -p 3.11 requirements/triton.in -o requirements/triton.txt

# --- the two commands ----------------------------------------------------------
demo: setup
	$(BIN)/itscam demo

# The test session starts its own services (tests/conftest.py) and stops them;
# the `services down` afterwards is a belt-and-braces for a crashed session.
# ruff's lint rules run first (a lint error fails the target after the tests ran).
test: setup
	@rc=0; $(BIN)/ruff check . || rc=$$?; $(BIN)/python -m pytest -q tests || rc=$$?; \
	  ITSCAM_STATE_DIR=$(CURDIR)/.itscam/test $(BIN)/itscam services down >/dev/null 2>&1; exit $$rc

test-fast: venv
	$(BIN)/python -m pytest -q tests -m "not integration and not slow"

# --- services ---------------------------------------------------------------------
up: setup
	$(BIN)/itscam services up

down:
	-$(BIN)/itscam services down

status:
	$(BIN)/itscam services status

bench: setup
	$(BIN)/itscam bench simulator
	$(BIN)/itscam bench inference
	$(BIN)/itscam bench pipeline
	$(BIN)/itscam bench platform

dagster: setup
	$(BIN)/itscam services up
	$(BIN)/itscam db migrate
	set -m; $(BIN)/python -m its_platform.dev --host 127.0.0.1 --port $${ITSCAM_DAGSTER_PORT:-13000}

# Detector training environment: pip (not uv) so torch/torchvision come from
# this machine's wheel cache; not needed by demo or test.
.venv-train/.stamp: requirements/train.in
	test -x .venv-train/bin/python || $(PY) -m venv .venv-train
	.venv-train/bin/pip install -q --disable-pip-version-check -r requirements/train.in
	touch $@

# Reproduce the committed demo detector (see triton_models/yolo11n/MODEL_CARD.md).
# The installed detector's recipe (MODEL_CARD.md): from scratch at 416, fine-tune without
# mosaic, fine-tune at 640 (rect batches), fine-tune on far traffic, fine-tune at the served
# scale (960) on 8000 frames. Hours on CPU (the last stage ran on a GPU: TRAIN_DEVICE=0 there);
# the epoch counts are those the deadline-fitted runs ended at. Each stage resumes from its
# last.pt if interrupted.
TRAIN_640_EPOCHS ?= 14
TRAIN_FAR_EPOCHS ?= 19
TRAIN_960_EPOCHS ?= 12
TRAIN_DEVICE ?= cpu
train: venv .venv-train/.stamp
	$(BIN)/itscam model dataset
	$(BIN)/itscam model train --name vehicles --imgsz 416 --epochs 20 --close-mosaic 6
	$(BIN)/itscam model train --name vehicles-ft --imgsz 416 --init runs/detect/vehicles/weights/best.pt \
	  --epochs 7 --lr0 0.0005 --mosaic 0 --warmup-epochs 0 --close-mosaic 0
	$(BIN)/itscam model train --name vehicles-640 --imgsz 640 --rect \
	  --init runs/detect/vehicles-ft/weights/best.pt --epochs $(TRAIN_640_EPOCHS) --lr0 0.001 \
	  --mosaic 0 --warmup-epochs 1 --close-mosaic 0
	$(BIN)/itscam model train --name vehicles-far --imgsz 640 --rect \
	  --init runs/detect/vehicles-640/weights/best.pt --epochs $(TRAIN_FAR_EPOCHS) --lr0 0.001 \
	  --mosaic 0 --warmup-epochs 0 --close-mosaic 0
	$(BIN)/itscam model dataset --out data/vehicles-8k --train 8000 --val 200 --splits train,val --jobs 2
	$(BIN)/itscam model train --name vehicles-960 --data data/vehicles-8k/data.yaml --imgsz 960 \
	  --init runs/detect/vehicles-far/weights/best.pt --batch 32 --epochs $(TRAIN_960_EPOCHS) \
	  --close-mosaic 3 --lr0 0.00125 --warmup-epochs 1 --warmup-bias-lr 0 --device $(TRAIN_DEVICE)
	$(BIN)/itscam model dataset --out data/vehicles-10k --train 10000 --val 200 --splits train,val --jobs 2
	$(BIN)/itscam model train --name vehicles-960b --data data/vehicles-10k/data.yaml --imgsz 960 \
	  --init runs/detect/vehicles-960/weights/best.pt --batch 32 --epochs $(TRAIN_960_EPOCHS) \
	  --close-mosaic 3 --lr0 0.001 --warmup-epochs 1 --warmup-bias-lr 0 --device $(TRAIN_DEVICE)
	$(BIN)/itscam model install --weights runs/detect/vehicles-960b/weights/best.pt
	$(BIN)/itscam model evaluate
	$(BIN)/itscam model install --card-only --weights runs/detect/vehicles-960b/weights/best.pt

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: down
	rm -rf .itscam
