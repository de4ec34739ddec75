"""What `gcloud functions deploy` would upload: the function and its runtime requirements, nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

PLANTED = [".venv/lib/site.py", "node_modules/x/index.js", ".env", ".local/prism.log", "tests/extra_test.py",
           "service-account-key.json", "secrets.txt", "__pycache__/main.cpython-311.pyc"]


def test_gcloudignore_uploads_the_function_and_no_tests_tools_samples_modules_or_secrets(tmp_path):
    gcloud = shutil.which("gcloud")
    assert gcloud, "the gcloud CLI is needed to check .gcloudignore (it runs offline)"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    for name in PLANTED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("planted\n")
    listed = subprocess.run([gcloud, "meta", "list-files-for-upload", "."], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    uploaded = set(listed)
    assert {"main.py", "requirements.txt"} <= uploaded
    assert any(p.startswith("handlers/") for p in uploaded) and any(p.startswith("store/") for p in uploaded)
    forbidden_prefixes = ("tests/", "tools/", "samples/", "bench/", "node_modules/", ".venv/", ".local/", ".git/", ".ci/")
    assert not [p for p in uploaded if p.startswith(forbidden_prefixes)]
    assert not uploaded & {".env", "service-account-key.json", "secrets.txt", "requirements-dev.txt", "package.json", "Makefile"}
    assert not [p for p in uploaded if p.endswith(".pyc")]
    assert all(Path(p).suffix in (".py", ".txt") for p in uploaded), sorted(uploaded)
