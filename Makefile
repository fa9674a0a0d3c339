# compiler-interrupts: common tasks. `make help` lists them.
PYTHON ?= python3

.PHONY: help setup demo test lit bench clean

help:
	@echo "make setup   install clang (if missing) and this package with its test tools"
	@echo "make demo    setup, then build and run the bundled example with compiler interrupts"
	@echo "make test    run the whole test suite (pytest, which also runs the lit IR tests)"
	@echo "make lit     run only the IR-level lit/FileCheck tests"
	@echo "make bench   run the evaluation harness on the workload suite (takes minutes)"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash examples/run_example.sh

test:
	$(PYTHON) -m pytest -q tests

lit:
	lit -sv tests/filecheck

bench:
	$(PYTHON) -m compiler_interrupts bench --size bench --out bench-results

clean:
	rm -rf bench-results build dist .pytest_cache
	find . -name Output -type d -prune -exec rm -rf {} +
