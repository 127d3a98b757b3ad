import json
import os

import pandas as pd
import pytest

from helpers import runs


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("DL_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_create_run_writes_manifest_with_versions_and_status(root):
    run = runs.create_run(profile="smoke", parameters={"a": 1})
    m = run.manifest
    assert run.path.parent == root
    assert m["status"] == "running" and m["profile"] == "smoke" and m["parameters"] == {"a": 1}
    assert "numpy" in m["versions"] and m["created"]


def test_new_run_never_reuses_an_existing_folder(root):
    a = runs.create_run(profile="demo")
    b = runs.create_run(profile="demo")
    assert a.path != b.path
    with pytest.raises(FileExistsError, match="never overwrites"):
        runs.create_run(run_id=a.run_id)


def test_bad_run_id_is_rejected_with_the_rule(root):
    with pytest.raises(ValueError, match="run id 'a b' is not valid"):
        runs.create_run(run_id="a b")


def test_open_run_by_id_continues_and_records_notebook(root):
    run = runs.create_run(run_id="r1")
    again = runs.open_run("r1", notebook="03_gridsearch", parameters={"label": "up", "seed": 1})
    assert again.path == run.path
    entry = again.manifest["notebooks"]["03_gridsearch-up"]
    assert entry["status"] == "running" and entry["parameters"]["seed"] == 1


def test_open_run_none_creates_a_run_and_later_notebooks_join_it(root):
    a = runs.open_run(None, notebook="01_breathing_eda", parameters={"profile": "smoke"})
    assert a.run_id.endswith("-smoke")
    b = runs.open_run(None, notebook="02_upsampling", parameters={"profile": "smoke"})
    assert b.path == a.path and set(b.manifest["notebooks"]) == {"01_breathing_eda", "02_upsampling"}
    assert runs.current_run("smoke").path == a.path
    other = runs.open_run(None, notebook="02_upsampling", parameters={"profile": "demo"})
    assert other.path != a.path, "each profile has its own current run"


def test_open_run_new_starts_a_run_that_becomes_current(root):
    a = runs.open_run(None, parameters={"profile": "smoke"})
    b = runs.open_run("new", notebook="00_primer", parameters={"profile": "smoke"})
    assert b.path != a.path and runs.current_run("smoke").path == b.path
    assert runs.open_run(None, parameters={"profile": "smoke"}).path == b.path


def test_an_explicit_run_in_the_runs_folder_becomes_current_one_elsewhere_does_not(root, tmp_path):
    runs.open_run("mine", parameters={"profile": "smoke"})
    assert runs.current_run("smoke").run_id == "mine"
    runs.open_run(tmp_path / "elsewhere" / "r", parameters={"profile": "smoke"})
    assert runs.current_run("smoke").run_id == "mine"


def test_a_current_run_that_was_deleted_gives_a_new_run(root):
    import shutil

    a = runs.open_run(None, parameters={"profile": "smoke"})
    shutil.rmtree(a.path)
    assert runs.current_run("smoke") is None
    b = runs.open_run(None, parameters={"profile": "smoke"})
    assert b.path.is_dir() and (b.path / "manifest.json").is_file()


def test_require_names_the_notebook_to_run_first_and_renders_without_traceback(root):
    run = runs.open_run(None, parameters={"profile": "smoke"})
    run.write_text("banana/VGG16/summary.csv", "x\n")
    runs.require(run, {"banana/VGG16/summary.csv": "05_banana_transfer"}, notebook="06_gradcam")
    with pytest.raises(runs.MissingPrerequisite, match=r"06_gradcam needs .* run 03_gridsearch with variants=\['down'\] first") as err:
        runs.require(run, {"banana/VGG16/summary.csv": "05_banana_transfer",
                           "tabular/gridsearch/down/summary.csv": "03_gridsearch with variants=['down']"},
                     notebook="06_gradcam")
    assert isinstance(err.value, FileNotFoundError)
    rendered = "\n".join(err.value._render_traceback_())
    assert "03_gridsearch" in rendered and "Traceback" not in rendered


def test_open_run_refuses_a_non_run_folder_with_files(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("do not touch")
    with pytest.raises(FileExistsError, match="not a run directory"):
        runs.open_run(target)
    assert (target / "thesis.txt").read_text() == "do not touch"


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    final = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with runs.atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path):
    final = tmp_path / "out.txt"
    final.write_text("old")
    with runs.atomic_path(final) as tmp:
        tmp.write_text("new")
        assert final.read_text() == "old"
    assert final.read_text() == "new"


def test_temporaries_of_a_killed_write_are_found_and_removed_nothing_else(root):
    """SIGKILL inside atomic_path skips its cleanup: the temporary stays, the artifact is untouched."""
    run = runs.create_run(run_id="r")
    run.write_json("a/metrics.json", {"ok": 1})
    final = run.file("a/model.keras")
    context = runs.atomic_path(final)
    tmp = context.__enter__()  # a write that never finishes (no __exit__: the process died)
    tmp.write_text("half")
    (run.path / "a" / ".hidden_note").write_text("keep")  # a dotfile that is not a temporary
    assert run.stale_temporaries() == [tmp]
    assert run.remove_stale_temporaries() == [tmp]
    assert not tmp.exists() and not final.exists()
    assert run.read_json("a/metrics.json") == {"ok": 1}
    assert (run.path / "a" / ".hidden_note").exists() and (run.path / "manifest.json").exists()
    assert run.remove_stale_temporaries() == []


def test_is_complete_for_files_and_marked_folders(root):
    run = runs.create_run()
    assert not run.is_complete("tabular/up")
    run.write_csv("tabular/up/history.csv", pd.DataFrame({"loss": [1.0, 0.5]}))
    assert run.is_complete("tabular/up/history.csv")
    assert not run.is_complete("tabular/up")  # folder without its marker
    run.mark_complete("tabular/up", best=0.9)
    assert run.is_complete("tabular/up")
    assert json.loads((run.path / "tabular/up" / runs.COMPLETE_MARKER).read_text())["best"] == 0.9


def test_write_json_converts_numpy_and_read_json_names_corrupt_file(root):
    import numpy as np

    run = runs.create_run()
    run.write_json("m.json", {"x": np.float32(0.5), "n": np.int64(3), "a": np.arange(2)})
    assert run.read_json("m.json") == {"x": 0.5, "n": 3, "a": [0, 1]}
    (run.path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        run.read_json("bad.json")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        run.read_csv("missing.csv")


def test_latest_run_and_containing(root):
    with pytest.raises(FileNotFoundError, match="no run"):
        runs.latest_run()
    a = runs.create_run(run_id="a")
    a.write_text("tabular/x.txt", "1")
    b = runs.create_run(run_id="b")
    assert runs.latest_run().path == b.path
    assert runs.latest_run(containing="tabular").path == a.path


def test_finish_sets_status_and_time(root):
    run = runs.create_run()
    run.finish("completed")
    m = run.manifest
    assert m["status"] == "completed" and m["finished"]


def test_runs_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DL_RUNS_DIR", str(tmp_path))
    assert runs.runs_root() == tmp_path.resolve()
    monkeypatch.delenv("DL_RUNS_DIR")
    assert runs.runs_root() == runs.repo_root() / "runs"
    assert os.path.isdir(runs.repo_root() / "helpers")
