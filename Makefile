# repro — reproduce landmark NLP/LLM papers at small scale.
#
#   make reproduce PAPER=attention [SCALE=tiny|small|base] [BACKEND=cpu|wgpu|cuda] [SEED=1] [DATA=name] [RESUME=1]
#   make test                      # the whole offline test suite on the CPU
#   make compare PAPER=attention   # re-print a stored result without training
#   make track / make stub ID=…    # follow arXiv; turn a paper into a crate
#
# One dev profile serves tests and reproductions: dependencies are built at opt-level 3 (burn in
# a plain debug build is ~50x slower), so nothing is compiled twice.

PAPER   ?= attention
SCALE   ?= small
BACKEND ?= cpu
SEED    ?= 1
DATA    ?=
RESUME  ?=
ID      ?=
NAME    ?=

CARGO    ?= cargo
FEATURES := $(if $(filter wgpu,$(BACKEND)),--features wgpu)$(if $(filter cuda,$(BACKEND)),--features cuda)
REPRO    := $(CARGO) run --quiet -p repro-harness $(FEATURES) --

.PHONY: reproduce compare list test test-wgpu check-cuda lint bench track stub results build

reproduce:
	$(REPRO) reproduce $(PAPER) --scale $(SCALE) --backend $(BACKEND) --seed $(SEED) $(if $(DATA),--data $(DATA)) $(if $(RESUME),--resume)

compare:
	$(REPRO) compare $(PAPER) --scale $(SCALE) --backend $(BACKEND)

list:
	$(REPRO) list

build:
	$(CARGO) build --workspace

test:
	$(CARGO) test --workspace --no-fail-fast

# The tiny reproduction on wgpu (Mesa's software Vulkan works), compared with the CPU backend.
test-wgpu:
	$(CARGO) test -p repro-suite --features wgpu --test backends -- --nocapture

# cuda's build script downloads an LLVM bundle; DOCS_RS=1 type-checks without it.
check-cuda:
	DOCS_RS=1 $(CARGO) check -p repro-harness --features cuda

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Speed targets (training tokens/s, decoding sentences/s) of the small model on the CPU. The dev
# profile (dependencies at opt-level 3) avoids a second, release build of burn.
bench:
	$(CARGO) bench -p repro-attention --bench throughput --profile dev

track:
	$(REPRO) arxiv track

stub:
	@test -n "$(ID)" || { echo "usage: make stub ID=<arXiv id> [NAME=slug]"; exit 2; }
	$(REPRO) arxiv stub $(ID) $(if $(NAME),--name $(NAME))

# Re-render every stored result's Markdown from its JSON.
results:
	@for f in results/*/*.json; do p=$$(basename $$(dirname $$f)); s=$$(basename $$f .json); \
	  $(REPRO) compare $$p --scale $${s%-*} --backend $${s#*-} --format markdown > results/$$p/$$s.md; done
