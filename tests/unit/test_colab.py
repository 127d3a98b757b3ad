"""The Colab setup: the install's constraints and summary, the setup cell's paths, the URL command."""

from __future__ import annotations

import os
import shutil
import sys
import types
from pathlib import Path

import nbformat
import pytest

from helpers import colab

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools import set_repo_url as url_tool  # noqa: E402
from tools.notebook import colab_cell  # noqa: E402


def test_constraints_pin_the_installed_protected_packages_only():
    installed = {"tensorflow": "2.19.0", "keras": "3.10.0", "numpy": "2.0.2", "ipykernel": "6.17.1",
                 "scikit-learn": "1.6.1", "jupyter-client": "6.1.12"}
    lines = colab.constraints_text(installed).split()
    assert lines == ["tensorflow==2.19.0", "keras==3.10.0", "numpy==2.0.2", "ipykernel==6.17.1",
                     "jupyter-client==6.1.12"]


def test_change_summary_names_what_was_added_upgraded_and_kept():
    before = {"tensorflow": "2.19.0", "numpy": "2.0.2", "scikit-learn": "1.6.1", "imbalanced-learn": "0.13.0",
              "ipykernel": "6.17.1"}
    after = {**before, "scikit-learn": "1.9.1", "imbalanced-learn": "0.14.2", "scikeras": "0.13.0",
             "dl-course-helpers": "0.1.0"}
    line = colab.describe_changes(before, after)
    assert line == ("installed: scikeras 0.13.0; upgraded: imbalanced-learn 0.13.0 -> 0.14.2, scikit-learn 1.6.1 "
                    "-> 1.9.1; TensorFlow, NumPy, ipykernel unchanged")
    assert colab.describe_changes(before, before) == "nothing to install; TensorFlow, NumPy, ipykernel unchanged"
    down = colab.describe_changes({"pandas": "2.10.0"}, {"pandas": "2.9.1"})
    assert down == "downgraded: pandas 2.10.0 -> 2.9.1", "versions compare as numbers, not strings"
    report = colab.InstallReport(before, {**after, "numpy": "2.3.0"}, "")
    assert report.changed_protected() == ["numpy"]


def test_install_refuses_a_folder_that_is_not_the_repository(tmp_path):
    with pytest.raises(FileNotFoundError, match="requirements.txt does not exist"):
        colab.install(tmp_path)


def test_configure_points_runs_and_data_at_the_drive_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DL_RUNS_DIR", raising=False)
    monkeypatch.delenv("DL_DATA_DIR", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    from helpers import runs
    from helpers.data import images

    root = colab.configure(use_drive=True, root=str(tmp_path / "MyDrive" / "course-runs"))
    assert runs.runs_root() == (root / "runs").resolve() and (root / "runs").is_dir()
    assert images.data_root() == (root / "data").resolve()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_configure_without_drive_keeps_runs_in_the_repository(monkeypatch):
    monkeypatch.delenv("DL_RUNS_DIR", raising=False)
    monkeypatch.delenv("DL_DATA_DIR", raising=False)
    from helpers import runs

    assert colab.configure(use_drive=False) is None
    assert "DL_RUNS_DIR" not in os.environ and runs.runs_root() == runs.repo_root() / "runs"


def test_colab_module_imports_only_the_standard_library():
    import ast

    tree = ast.parse((ROOT / "helpers" / "colab.py").read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 0}
    top.discard("helpers")  # helpers.env only, checked next
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, top - set(sys.stdlib_module_names)
    env_tree = ast.parse((ROOT / "helpers" / "env.py").read_text())  # configure() imports it
    env_top = {alias.name.split(".")[0] for node in env_tree.body if isinstance(node, ast.Import)
               for alias in node.names}
    env_top |= {node.module.split(".")[0] for node in env_tree.body
                if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert env_top <= set(sys.stdlib_module_names) | {"__future__"}, env_top - set(sys.stdlib_module_names)


@pytest.fixture
def fake_colab(monkeypatch):
    """Pretend to be Colab: a google.colab module whose drive.mount records its calls."""
    mounted = []
    google = types.ModuleType("google")
    colab_module = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    drive.mount = mounted.append
    colab_module.drive = drive
    google.colab = colab_module
    for name, module in (("google", google), ("google.colab", colab_module), ("google.colab.drive", drive)):
        monkeypatch.setitem(sys.modules, name, module)
    return mounted


def run_setup_cell(source: str, copies: list[str] | None = None) -> dict:
    if copies is not None:
        source = source.replace('COPIES = ["/content/deep-learning-course", "/content/drive/MyDrive/deep-learning-course"]',
                                f"COPIES = {copies!r}")
    namespace: dict = {}
    exec(compile(source, "<setup cell>", "exec"), namespace)
    return namespace


def test_setup_cell_with_the_placeholder_url_stops_and_says_how_to_fix_it(fake_colab):
    with pytest.raises(SystemExit, match=r"still names the placeholder YOUR-ORG: .*tools/set_repo_url.py "
                                         r"https://github.com/ORG/NAME.*upload the repository folder"):
        run_setup_cell(colab_cell("https://github.com/YOUR-ORG/deep-learning-course"),
                       copies=["/nonexistent/deep-learning-course", "/nonexistent/MyDrive/deep-learning-course"])
    assert fake_colab == ["/content/drive"], "Drive is mounted first (a copy may live there)"


def test_setup_cell_uses_an_uploaded_copy_installs_and_keeps_runs_on_drive(fake_colab, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(colab, "install", lambda repo: calls.append(("install", repo)))
    monkeypatch.setattr(colab, "configure", lambda use_drive: calls.append(("configure", use_drive)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    not_a_copy = tmp_path / "deep-learning-course"
    (not_a_copy / "helpers").mkdir(parents=True)  # no pyproject.toml: an unrelated folder
    ns = run_setup_cell(colab_cell("https://github.com/YOUR-ORG/deep-learning-course"),
                        copies=[str(not_a_copy), str(ROOT)])
    assert ns["REPO"] == str(ROOT) and calls == [("install", str(ROOT)), ("configure", True)]
    assert sys.path[0] == str(ROOT)


def test_setup_cell_clones_the_repository_url_when_no_copy_exists(fake_colab, monkeypatch, tmp_path):
    import subprocess

    cloned = []
    monkeypatch.setattr(subprocess, "run", lambda args, check: cloned.append(args))
    monkeypatch.setattr(colab, "install", lambda repo: None)
    monkeypatch.setattr(colab, "configure", lambda use_drive: None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    target = str(tmp_path / "deep-learning-course")
    ns = run_setup_cell(colab_cell("https://github.com/uni-x/dl-course"), copies=[target, str(tmp_path / "none")])
    assert cloned == [["git", "clone", "--depth", "1", "https://github.com/uni-x/dl-course", target]]
    assert ns["REPO"] == target


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    ns = run_setup_cell(colab_cell())
    assert "REPO" not in ns


def test_every_notebook_opens_with_the_current_setup_cell_and_its_badge():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        assert nb.cells[1].source == colab_cell(), f"{path.name}: run `python tools/set_repo_url.py`"
        assert f"/blob/main/notebooks/{path.name})" in nb.cells[0].source, path.name


@pytest.fixture
def repo_copy(tmp_path):
    copy = tmp_path / "course"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "Citing.bib"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "notebooks", copy / "notebooks")
    return copy


def test_set_repo_url_rewrites_every_place_and_is_idempotent(repo_copy):
    url = "https://github.com/uni-x/dl-course"
    changed = url_tool.set_repo_url(url + "/", root=repo_copy)
    assert changed[:3] == ["pyproject.toml", "README.md", "Citing.bib"] and len(changed) == 13
    assert f'Repository = "{url}"' in (repo_copy / "pyproject.toml").read_text()
    readme = (repo_copy / "README.md").read_text()
    assert readme.count("https://colab.research.google.com/github/uni-x/dl-course/blob/main/notebooks/") == 10
    assert "YOUR-ORG/deep-learning-course" not in readme and f"git clone {url}" in readme
    assert url in (repo_copy / "Citing.bib").read_text()
    for path in sorted((repo_copy / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        assert f'REPO_URL = "{url}"' in nb.cells[1].source and "YOUR-ORG" not in nb.cells[0].source
        assert f"github/uni-x/dl-course/blob/main/notebooks/{path.name})" in nb.cells[0].source
    assert url_tool.set_repo_url(url, root=repo_copy) == []


@pytest.mark.parametrize("bad", ["http://github.com/a/b", "https://gitlab.com/a/b", "github.com/a/b",
                                 "https://github.com/a", "https://github.com/a/b c"])
def test_set_repo_url_rejects_what_is_not_a_github_repository(bad, repo_copy):
    with pytest.raises(ValueError, match="expected https://github.com/OWNER/NAME"):
        url_tool.set_repo_url(bad, root=repo_copy)
    assert "YOUR-ORG" in (repo_copy / "pyproject.toml").read_text()


def test_runner_and_dev_extras_match_their_requirements_files():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def listed(name):
        lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
        return [line for line in lines if line and not line.startswith("-r")]

    assert extras["runner"] == listed("requirements-runner.txt")
    assert extras["dev"] == listed("requirements-runner.txt") + listed("requirements-dev.txt")
    notebook_needs = " ".join(listed("requirements.txt"))
    for tool in ("papermill", "nbval", "pytest", "dask", "ipykernel"):
        assert tool not in notebook_needs, f"{tool} is for the runner/tests, not what the notebooks import"


def test_requirements_accept_what_colab_preinstalls_except_the_two_the_notebooks_must_upgrade():
    from packaging.requirements import Requirement

    colab_versions = {}
    for line in (ROOT / "tests" / "colab" / "colab-versions.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            colab_versions[name] = version
    must_upgrade = {"scikit-learn", "imbalanced-learn"}  # scikeras 0.13 needs scikit-learn >= 1.7
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.name in colab_versions and req.name not in must_upgrade:
            assert req.specifier.contains(colab_versions[req.name]), \
                f"requirements.txt {line!r} excludes Colab's {req.name} {colab_versions[req.name]}"
        if req.name in must_upgrade:
            assert not req.specifier.contains(colab_versions[req.name]), req.name
    # google-colab, notebook, jupyter-server and requests are protected for Colab's image itself; the
    # Colab-like environment holds the kernel and the numeric core, which the notebooks run on
    core = set(colab.PROTECTED) - {"jupyter-core", "google-colab", "notebook", "jupyter-server", "requests"}
    assert core <= set(colab_versions), "colab-versions.txt pins the runtime"
