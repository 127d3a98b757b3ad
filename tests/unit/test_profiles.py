import pytest

from helpers import profiles


def test_every_profile_defines_every_notebook_with_the_same_parameter_names():
    for notebook, per_profile in profiles.PARAMETERS.items():
        assert set(per_profile) == set(profiles.PROFILES), notebook
        names = {p: set(v) for p, v in per_profile.items()}
        assert names["smoke"] == names["demo"] == names["full"], notebook


def test_resolve_fills_profile_values_and_keeps_given_ones():
    p = profiles.resolve("01_breathing_eda", "smoke", data_fraction=None, seed=3)
    assert p["data_fraction"] == profiles.PARAMETERS["01_breathing_eda"]["smoke"]["data_fraction"]
    assert p["seed"] == 3 and p["profile"] == "smoke"


def test_resolve_rejects_unknown_parameter_naming_it():
    with pytest.raises(ValueError, match="unknown parameter.*colour"):
        profiles.resolve("01_breathing_eda", "smoke", colour="red")


def test_unknown_profile_and_notebook_are_clear_errors():
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke, demo, full"):
        profiles.resolve("01_breathing_eda", "fast")
    with pytest.raises(ValueError, match="unknown notebook '42_magic'"):
        profiles.resolve("42_magic", "smoke")


def test_repeated_notebooks_have_labels_and_distinct_parameter_sets():
    for notebook, per_profile in profiles.REPEATS.items():
        for profile in per_profile:
            sets = profiles.parameter_sets(notebook, profile)
            labels = [s["label"] for s in sets]
            assert len(set(labels)) == len(labels) > 0, (notebook, profile)


def test_parameter_sets_of_a_single_notebook():
    (only,) = profiles.parameter_sets("00_primer", "demo")
    assert only["label"] is None and only["profile"] == "demo"
