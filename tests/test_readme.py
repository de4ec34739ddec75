"""The README is the user's manual: its first lines are the two commands, and it lists every setting."""

from runtime.config import VARIABLES
from tests.conftest import ROOT


def test_readme_starts_with_the_run_and_test_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head) and any(line.startswith("make test") for line in head)


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text()
    assert not [name for name in VARIABLES if f"`{name}`" not in readme]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
