# Dominus: `make run` serves every function locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: run test lint typecheck unit integration bench validate build deploy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,geometry,vision,reports,packets,ransac]'
	touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/dominus serve

# One pytest-xdist worker per core: each runs its own redis-server, moto and servers (nothing shared).
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

bench: $(STAMP)
	$(BIN)/python -m bench

validate: $(STAMP)
	$(BIN)/pytest -q tests/infra

# `sam build` needs Docker for GeometryFunction and VisionFunction: container images built from
# functions/<name>/Dockerfile with the repository root as the context (template.yaml says why).
# The zip functions and the shared layer build without it; CI runs neither build nor deploy.
build:
	sam build

# Pushes the two images to the ECR repositories SAM manages (samconfig.toml: resolve_image_repos).
# docs/DEPLOY.md: what to set up first, the smoke test, rolling back.
deploy:
	sam deploy --config-env $${ENV:-dev}

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
