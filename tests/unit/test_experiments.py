"""helpers.training.experiments: the resumable units x seeds runner, on a fake train function
(no TensorFlow): what is trained, what is loaded, what is said, and the mean ± SD table."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

from helpers import runs
from helpers.training import experiments
from helpers.training.experiments import Unit, fingerprint, mean_sd_table, run_units


@pytest.fixture
def run(tmp_path):
    """A run folder without the manifest's version/device probe (that imports TensorFlow)."""
    runs.write_json(tmp_path / runs.MANIFEST, {"run_id": tmp_path.name, "notebooks": {}})
    return runs.Run(tmp_path)


def build_small(width):
    return ["dense", width]


def build_wide(width):
    return ["dense", width * 2]


class FakeTrainer:
    """``train(unit)``: records which units it trained, writes a file, returns a score."""

    def __init__(self, run):
        self.run = run
        self.trained: list[str] = []

    def __call__(self, unit: Unit) -> dict:
        self.trained.append(unit.folder)
        self.run.write_json(f"{unit.folder}/history.json", {"epochs": unit.inputs["epochs"]})
        score = unit.inputs["epochs"] / 10 + unit.labels["seed"] / 100
        return {"accuracy": np.float64(score), "epochs_run": np.int64(unit.inputs["epochs"])}


def make_units(epochs_by_variant: dict, build=build_small, seeds=(0, 1)) -> list[Unit]:
    return [Unit(f"exp/{variant}/seed{seed}", {"epochs": epochs, "seed": seed, "build": build},
                 {"variant": variant, "seed": seed})
            for variant, epochs in epochs_by_variant.items() for seed in seeds]


def test_first_run_trains_every_unit_and_marks_it_complete(run):
    train = FakeTrainer(run)
    units = make_units({"a": 1, "b": 2})
    rows = run_units(run, units, train, progress=False, log=lambda _: None)
    assert train.trained == [u.folder for u in units]
    assert list(rows.columns) == ["variant", "seed", "accuracy", "epochs_run"]
    assert rows["accuracy"].tolist() == pytest.approx([0.1, 0.11, 0.2, 0.21])
    for unit in units:
        assert run.is_complete(unit.folder)
        assert run.read_json(f"{unit.folder}/{experiments.RESULT_FILE}")["digest"] == unit.digest


def test_rerun_with_the_same_inputs_loads_every_unit(run):
    units = make_units({"a": 1, "b": 2})
    first = run_units(run, units, FakeTrainer(run), progress=False, log=lambda _: None)
    again, said = FakeTrainer(run), []
    second = run_units(run, make_units({"a": 1, "b": 2}), again, progress=False, log=said.append)
    assert again.trained == [] and said == []
    pd.testing.assert_frame_equal(first, second)


def test_a_changed_parameter_retrains_only_its_units_and_says_which_input_changed(run):
    run_units(run, make_units({"a": 1, "b": 2}), FakeTrainer(run), progress=False, log=lambda _: None)
    train, said = FakeTrainer(run), []
    rows = run_units(run, make_units({"a": 1, "b": 3}), train, progress=False, log=said.append)
    assert train.trained == ["exp/b/seed0", "exp/b/seed1"]
    assert len(said) == 2 and all("exp/b/seed" in s and "(epochs)" in s for s in said)
    assert rows.set_index(["variant", "seed"])["accuracy"].to_dict() == pytest.approx(
        {("a", 0): 0.1, ("a", 1): 0.11, ("b", 0): 0.3, ("b", 1): 0.31})


def test_an_edited_build_function_retrains(run):
    run_units(run, make_units({"a": 1}, build=build_small), FakeTrainer(run), progress=False, log=lambda _: None)
    train, said = FakeTrainer(run), []
    run_units(run, make_units({"a": 1}, build=build_wide), train, progress=False, log=said.append)
    assert train.trained == ["exp/a/seed0", "exp/a/seed1"]
    assert all("(build)" in s for s in said)


def test_an_interrupted_unit_is_trained_again(run):
    units = make_units({"a": 1})
    run_units(run, units, FakeTrainer(run), progress=False, log=lambda _: None)
    (run.path / units[1].folder / runs.COMPLETE_MARKER).unlink()  # killed after train, before the marker
    train, said = FakeTrainer(run), []
    run_units(run, units, train, progress=False, log=said.append)
    assert train.trained == [units[1].folder]
    assert said == [f"{units[1].folder}: trained again, it was interrupted before its end"]


def test_a_failing_unit_leaves_no_marker_and_the_finished_ones_are_kept(run):
    units = make_units({"a": 1, "b": 2})

    def train(unit):
        if unit.folder == "exp/b/seed0":
            raise RuntimeError("disconnected")
        return {"accuracy": 0.5}

    with pytest.raises(RuntimeError, match="disconnected"):
        run_units(run, units, train, progress=False, log=lambda _: None)
    assert [run.is_complete(u.folder) for u in units] == [True, True, False, False]


def test_units_sharing_a_folder_are_refused(run):
    units = [Unit("exp/same", {"epochs": 1}, {"seed": 0}), Unit("exp/same", {"epochs": 2}, {"seed": 1})]
    with pytest.raises(ValueError, match="exp/same"):
        run_units(run, units, FakeTrainer(run), progress=False)


def test_arrays_and_frames_are_fingerprinted_by_content():
    x = np.arange(12, dtype=float).reshape(3, 4)
    assert fingerprint({"x": x}) == fingerprint({"x": x.copy()})
    changed = x.copy()
    changed[2, 3] += 1e-9
    assert fingerprint({"x": x}) != fingerprint({"x": changed})
    assert fingerprint({"x": x}) != fingerprint({"x": x.astype(np.float32)})
    frame = pd.DataFrame({"a": [1, 2], "b": ["u", "v"]})
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame) != fingerprint(frame.assign(b=["u", "w"]))
    assert fingerprint(frame["a"]) != fingerprint(frame["a"] + 1)


def test_fingerprint_is_stable_for_values_whose_repr_holds_an_address():
    class Opaque:
        pass

    assert fingerprint({"x": Opaque()}) == fingerprint({"x": Opaque()})
    assert fingerprint({"s": {"b", "a", "c"}}) == fingerprint({"s": {"c", "a", "b"}})
    assert fingerprint(functools.partial(build_small, 3)) == fingerprint(functools.partial(build_small, 3))
    assert fingerprint(functools.partial(build_small, 3)) != fingerprint(functools.partial(build_small, 4))
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_functions_are_fingerprinted_by_source():
    assert fingerprint(build_small) != fingerprint(build_wide)
    assert "width * 2" in experiments.function_source(build_wide)
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)  # no source file: digested by bytecode
    first = experiments.function_source(namespace["f"])
    exec("def f(x):\n    return x + 2\n", namespace)
    assert first != experiments.function_source(namespace["f"])


def test_changed_parameters_names_added_removed_and_changed_inputs():
    assert experiments.changed_parameters({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0}) == ["b", "c"]
    assert experiments.changed_parameters({"a": [1, 2]}, {"a": [1, 2]}) == []


def test_history_frame_numbers_epochs_and_renames_the_learning_rate():
    logs = {"loss": [0.9, 0.5], "learning_rate": [0.1, 0.05]}
    frame = experiments.history_frame(logs, epoch_seconds=[3.0, 1.0], initial_epoch=2)
    assert frame["epoch"].tolist() == [3, 4]
    assert list(frame.columns) == ["epoch", "loss", "lr", "epoch_seconds"]
    assert frame["epoch_seconds"].tolist() == [3.0, 1.0]


def test_mean_sd_table_values():
    results = pd.DataFrame({
        "variant": ["a", "a", "a", "b"],
        "spec": ["A", "A", "A", "B"],
        "accuracy": [0.5, 0.7, 0.9, 0.8],
        "loss": [1.0, np.nan, 3.0, np.nan],
    })
    table = mean_sd_table(results, "variant", {"accuracy": "test accuracy", "loss": "test loss"}, keep=["spec"])
    assert table["variant"].tolist() == ["a", "b"] and table["spec"].tolist() == ["A", "B"]
    assert table["test accuracy"].tolist() == ["0.700 ± 0.200", "0.800 (1 seed)"]
    assert table["test loss"].tolist() == ["2.000 ± 1.414", "n/a"]
    assert table["seeds"].tolist() == [3, 1]
    assert table["accuracy_mean"].tolist() == pytest.approx([0.7, 0.8])
    assert table["accuracy_sd"].iloc[0] == pytest.approx(0.2) and math.isnan(table["accuracy_sd"].iloc[1])
    assert table["loss_n"].tolist() == [2, 0]
    two_keys = mean_sd_table(results, ["variant", "spec"], {"accuracy": "acc"}, numeric=False)
    assert list(two_keys.columns) == ["variant", "spec", "acc", "seeds"]
