"""The layer SAM builds holds the `shared` package and exactly the project's runtime dependencies."""

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_RUNTIME_PROVIDES = {"boto3"}


def requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_layer_requirements_are_the_runtime_dependencies_less_what_lambda_ships() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {dep for dep in project["dependencies"] if dep.split(">")[0].split("=")[0] not in LAMBDA_RUNTIME_PROVIDES}
    assert requirement_lines((ROOT / "layer" / "requirements.txt").read_text()) == runtime


def test_layer_content_holds_the_shared_package() -> None:
    shared = ROOT / "layer" / "shared"
    assert shared.resolve() == (ROOT / "shared").resolve()
    assert (shared / "engine.py").is_file()


def test_no_heavy_vision_packages_in_the_layer() -> None:
    names = {
        line.split(">")[0].split("=")[0].lower()
        for line in requirement_lines((ROOT / "layer" / "requirements.txt").read_text())
    }
    assert not names & {"numpy", "opencv-python-headless", "opencv-python"}


def test_geometry_requirements_are_the_geometry_extra() -> None:
    # The geometry image installs functions/geometry/requirements.txt; local runs and the tests use
    # pyproject.toml's `geometry` extra. Both must name the same packages and bounds.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    requirements = requirement_lines((ROOT / "functions" / "geometry" / "requirements.txt").read_text())
    assert requirements == set(extras["geometry"])


def test_vision_requirements_are_the_vision_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    requirements = requirement_lines((ROOT / "functions" / "vision" / "requirements.txt").read_text())
    assert requirements == set(extras["vision"])
