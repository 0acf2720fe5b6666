# The two commands of the README: `make demo` and `make test`. `make build` is the set-up both run.
.PHONY: build demo test bench fmt clean

build:
	scripts/setup.sh

demo: build
	.venv/bin/quotewire demo

test: build
	scripts/test.sh

bench: build
	.venv/bin/quotewire bench feed --messages 5000000 --report

fmt:
	cargo fmt --all
	.venv/bin/ruff format python tests

clean:
	cargo clean
	rm -rf .venv
