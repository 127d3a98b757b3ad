"""The report on constructed run directories: partial runs, corrupt artifacts, publishing."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import layout, runs  # noqa: E402
from helpers import report as rp  # noqa: E402


def _history(n=5, gap=0.0):
    return pd.DataFrame({"epoch": range(1, n + 1), "loss": [1.0, 0.6, 0.45, 0.42, 0.41][:n],
                         "val_loss": [1.0, 0.65, 0.5, 0.47, 0.465][:n],
                         "accuracy": [0.5, 0.75, 0.85, 0.86, 0.87][:n],
                         "val_accuracy": [0.5 - gap, 0.73, 0.83, 0.84, 0.85 - gap][:n]})


def _gridsearch(run, variant, label, score, sd=0.02):
    rel = f"tabular/gridsearch/{variant}/{label}"
    run.write_json(f"{rel}/best_params.json", {
        "best_params": {"model__neurons": 30, "epochs": 5}, "scoring": "average_precision", "best_score": score,
        "cv": {"average_precision": {"mean": score, "std": sd}}, "split": "val",
        "averaging": "mean and SD over 3 stratified CV folds"})
    run.write_json(f"{rel}/test_scores.json", {"label": label, "variant": variant, "split": "test",
                                               "averaging": "binary", "n_rows": 50, "average_precision": score - 0.05,
                                               "f1": score - 0.1})
    run.write_csv(f"{rel}/history.csv", _history())
    run.mark_complete(rel)


def _banana(run, backbone, mode, seed, acc):
    """One unit as helpers.training.experiments.run_units writes it: result.json's row, then the marker."""
    rel = layout.transfer_unit(backbone, mode, seed)
    run.write_json(f"{rel}/{layout.RESULT}", {"digest": "d", "inputs": {"epochs": 5}, "row": {
        "backbone": backbone, "mode": mode, "seed": seed, "split": "test", "accuracy": acc, "loss": 1 - acc,
        "macro_f1": acc - 0.02, "val_accuracy": acc - 0.01, "mean_epoch_seconds": 1.5, "inference_ms_per_image": 2.0, "params": 1234,
        "device": "CPU (2 cores)"}})
    run.write_csv(f"{rel}/{layout.HISTORY}", _history())
    run.mark_complete(rel)


@pytest.fixture
def run(tmp_path):
    r = runs.create_run(run_id="r1", profile="smoke", root=tmp_path,
                        parameters={"argv": ["--profile", "smoke"], "profile": "smoke"})
    r.record_notebook("01_breathing_eda", status="completed", seconds=4.0,
                      parameters={"data_path": None, "data_fraction": 0.05, "test_size": 0.2})
    r.record_notebook("03_gridsearch-up", status="completed", seconds=10.0, parameters={"label": "up"})
    return r


def _full_tabular(run):
    run.write_csv("tabular/eda/class_counts.csv", pd.DataFrame({"label": ["normal", "deep", "quick"],
                                                                  "count": [800, 100, 50]}))
    for variant, base in (("original", 0.5), ("up", 0.7)):
        for label, shift in (("deep", 0.0), ("quick", 0.1)):
            _gridsearch(run, variant, label, base + shift)


def test_partial_run_reports_missing_tracks_as_not_run(run):
    _full_tabular(run)
    rep = rp.build_report(run.path)
    assert rep.section("tabular").status == "ok"
    for key in ("images", "cnn_architecture", "imbalanced"):
        assert rep.section(key).status == rp.NOT_RUN
    winners = rep.facts["tabular_winners"].set_index("label")
    assert winners.loc["deep", "winner"] == "up"
    assert winners.loc["quick", "score"] == pytest.approx(0.8)
    md = rep.to_markdown()
    assert "*not run*" in md
    assert "0.800 ± 0.020" in md                    # quick/up: val mean ± SD
    assert "validation folds" in md and "(test)" in md
    assert "normal" in md and "16.0:1" in md         # imbalance ratio 800/50
    assert rep.problems == []


def test_empty_run_builds_and_says_nothing_ran(run):
    rep = rp.build_report(run.path)
    assert all(rep.section(k).status == rp.NOT_RUN for k in ("tabular", "images", "cnn_architecture", "imbalanced"))
    assert "No results in this run yet" in rep.section("highlights").text[0]
    path = rp.write_report(rep, run)
    assert path == run.path / "report" / "report.md"
    assert "Wall time per notebook execution" in path.read_text()


def test_images_and_family_tracks(run):
    for mode, base in (("frozen", 0.6), ("finetune", 0.9)):
        for seed, d in ((0, 0.0), (1, 0.01), (2, -0.01)):
            _banana(run, "vgg16", mode, seed, base + d)
    for variant, val in (("baseline", 0.5), ("class_weights", 0.7)):
        for seed in (0, 1):
            rel = f"imbalanced/weights/{variant}/seed{seed}"
            run.write_json(f"{rel}/summary.json", {"variant": variant, "seed": seed, "seconds_per_epoch": 2.0,
                                                   "val_macro_f1": val + 0.01 * seed, "split": "val"})
            run.write_csv(f"{rel}/history.csv", _history())
            run.mark_complete(rel)
    run.record_notebook("05_banana_transfer-vgg16", status="completed", seconds=9.0,
                        parameters={"label": "vgg16", "val_size": 0.25, "seeds": [0, 1, 2]})
    rep = rp.build_report(run.path)
    assert "val_size, of the training part) per notebook: 05: 0.25" in "\n".join(rep.section("data").text)
    images = rep.section("images")
    caption, table = images.tables[0]
    assert "mean ± SD over seeds" in caption
    row = table.set_index("mode").loc["finetune"]
    assert row["test accuracy"] == "0.900 ± 0.010" and row["seeds"] == 3 and row["params"] == 1234
    assert rep.facts["images_best"][:3] == ("best", "vgg16", "finetune")
    assert any(v.verdict == "differ" and "fine-tuned is higher" in v.sentence for v in images.verdicts)
    ablation = rep.section("imbalanced")
    assert "s/epoch (excl. first)" in ablation.tables[0][1].columns  # an older run's seconds_per_epoch, one name now
    assert any("class_weights" in v.sentence and v.verdict == "differ" for v in ablation.verdicts)
    assert "CPU (2 cores)" in rep.to_markdown()
    md = rp.write_report(rep, run).read_text()
    for name, _fig, _cap in images.figures:
        assert (run.path / "report" / "figures" / f"{name}.png").exists()
        assert f"figures/{name}.png" in md


def test_corrupt_and_partial_artifacts_give_messages_naming_the_file(run):
    _full_tabular(run)
    (run.path / "tabular/gridsearch/up/deep/test_scores.json").write_text("{not json")
    run.dir("tabular", "gridsearch", "down", "deep")            # no _COMPLETE.json marker
    (run.path / "tabular/eda/class_counts.csv").write_text("")  # empty CSV
    run.write_csv("banana/vgg16/frozen/seed0/history.csv", pd.DataFrame({"loss": [1.0]}))
    run.mark_complete("banana/vgg16/frozen/seed0")
    rep = rp.build_report(run.path)
    problems = "\n".join(rep.problems)
    assert "tabular/gridsearch/up/deep/test_scores.json" in problems and "not valid JSON" in problems
    assert "tabular/gridsearch/down/deep` has no `_COMPLETE.json` marker" in problems
    assert "tabular/eda/class_counts.csv` could not be read as CSV" in problems
    assert "banana/vgg16/frozen/seed0/history.csv` lacks column(s) ['val_loss']" in problems
    md = rep.to_markdown()
    assert "**Problem:**" in md and "test_scores.json" in md


def test_keras_architecture_reads_config_without_tensorflow(tmp_path):
    import zipfile

    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 8, "activation": "relu",
                                           "kernel_initializer": {"class_name": "HeNormal"}}},
        {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.2}}]},
        "compile_config": {"loss": "binary_crossentropy", "metrics": ["accuracy"],
                           "optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}}
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
    layers, compiled = rp.keras_architecture(path)
    assert list(layers["type"]) == ["InputLayer", "Dense", "Dropout"]
    assert "units=8" in layers.loc[1, "settings"] and "init=HeNormal" in layers.loc[1, "settings"]
    assert compiled == {"loss": "binary_crossentropy", "optimizer": "Adam", "metrics": ["accuracy"],
                        "learning_rate": 0.001}
    (tmp_path / "bad.keras").write_text("nope")
    with pytest.raises(ValueError, match="bad.keras is not a readable .keras model file"):
        rp.keras_architecture(tmp_path / "bad.keras")


README = """# Title

Intro text.

## Results

<!-- RESULTS:START -->
old results
<!-- RESULTS:END -->

## After
tail text
"""


def test_publish_rewrites_only_between_markers(run, tmp_path):
    _full_tabular(run)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(README)
    out = rp.publish(run.path, repo)
    text = (repo / "README.md").read_text()
    before, rest = text.split(rp.RESULTS_START)
    inside, after = rest.split(rp.RESULTS_END)
    assert before == README.split(rp.RESULTS_START)[0]
    assert after == README.split(rp.RESULTS_END)[1]
    assert "old results" not in inside
    assert "run `r1`" in inside and "**`smoke`**" in inside
    assert "embedded synthetic breathing" in inside
    assert "python -m helpers.pipeline --profile smoke" in inside and "--profile full" in inside
    assert out["images"] and all(p.exists() and p.parent == repo / "images" for p in out["images"])
    for p in out["images"]:
        assert f"images/{p.name}" in inside
    assert (run.path / "report" / "report.md").exists()


def test_publish_without_markers_is_an_error_and_writes_nothing(run, tmp_path):
    repo = tmp_path / "repo2"
    repo.mkdir()
    (repo / "README.md").write_text("# no markers\n")
    with pytest.raises(ValueError, match="must contain <!-- RESULTS:START -->"):
        rp.publish(run.path, repo)
    assert (repo / "README.md").read_text() == "# no markers\n"
    assert not (run.path / "report").exists()


def test_main_cli(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DL_RUNS_DIR", str(run.path.parent))
    assert rp.main([]) == 0                       # latest run
    assert (run.path / "report" / "report.md").exists()
    assert rp.main(["r1"]) == 0                   # by run id
    assert rp.main([str(tmp_path / "nowhere")]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_retraining_comparison_and_architecture_families(run):
    rows = []
    for strategy, base in (("original", 0.40), ("synthesized", 0.60)):
        for seed in (0, 1, 2):
            rel = f"tabular/retrain/{strategy}/seed{seed}"
            run.write_csv(f"{rel}/history.csv", _history())
            run.mark_complete(rel)
            for split in ("val", "test"):
                rows.append({"strategy": strategy, "seed": seed, "split": split, "macro_f1": base + 0.01 * seed,
                             "accuracy": 0.8})
    run.write_csv("tabular/retrain/comparison.csv", pd.DataFrame(rows))
    for family in ("depth", "dropout"):
        for variant in ("base", "wider"):
            for seed in (0, 1):
                rel = f"cnn_architecture/{family}/{variant}/seed{seed}"
                run.write_json(f"{rel}/summary.json", {"variant": variant, "spec": "C32-P-C64-P-D64",
                                                       "val_accuracy": 0.5 + 0.1 * (variant == "wider"),
                                                       "split": "val"})
                run.write_csv(f"{rel}/history.csv", _history())
                run.mark_complete(rel)
                run.save_figure(f"cnn_architecture/{family}/{variant}/train_vs_val.png",
                                rp.history_figure(_history(), "x"))
    rep = rp.build_report(run.path)
    tab = rep.section("tabular")
    caption, table = next((c, t) for c, t in tab.tables if c.startswith("Retraining comparison"))
    row = table[(table["strategy"] == "synthesized") & (table["split"] == "test")].iloc[0]
    assert row["macro_f1"] == "0.610 ± 0.010" and row["seeds"] == 3
    assert rep.facts["retrain_best"][1] == "synthesized"
    assert any(v.verdict == "differ" for v in tab.verdicts)
    arch = rep.section("cnn_architecture")
    assert arch.status == "ok" and {"depth", "dropout"} <= set(arch.tables[0][1]["family"])
    names = [n for n, _f, _c in arch.figures]
    assert len(names) == len(set(names)) == 5            # the best variant's curves, one per family/variant
    assert names[0] == "cnn_architecture_best_history"
    assert any("[depth] wider is higher" in v.sentence for v in arch.verdicts)


def test_pipeline_report_publish_cli(run, tmp_path, capsys):
    from helpers import pipeline

    _full_tabular(run)
    repo = tmp_path / "repo3"
    repo.mkdir()
    (repo / "README.md").write_text(README)
    assert pipeline.main(["report", "--publish", str(run.path), "--repo-root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "README results section updated" in out
    assert "run `r1`" in (repo / "README.md").read_text()


def test_long_layer_tables_are_compacted():
    layers = pd.DataFrame({"layer": [f"l{i}" for i in range(40)], "type": ["Conv2D"] * 37 + ["Pool", "Drop", "Dense"],
                           "settings": ["trainable=False"] * 30 + [""] * 10})
    out = rp.compact_layers(layers, limit=30, keep_last=3)
    assert len(out) == 4
    assert out.loc[0, "settings"].startswith("Conv2D x37") and "30 of 37 frozen" in out.loc[0, "settings"]
    assert list(out["layer"][1:]) == ["l37", "l38", "l39"]
    assert rp.compact_layers(layers.head(5)) is not None and len(rp.compact_layers(layers.head(5))) == 5


def test_random_initialisation_is_said_in_the_transfer_section_and_highlights(run):
    for seed, acc in ((0, 0.34), (1, 0.33)):
        _banana(run, "VGG16", "frozen", seed, acc)
        _banana(run, "ResNet50V2", "frozen", seed, acc + 0.3)
    run.write_json("banana/VGG16/weights.json", {
        "backbone": "VGG16", "asked": "auto", "used": "random", "file": None,
        "description": "random initialisation (no ImageNet weights)", "reason": "download failed (offline)"})
    run.write_json("banana/ResNet50V2/weights.json", {
        "backbone": "ResNet50V2", "asked": "auto", "used": "imagenet", "file": "resnet50v2_notop.h5",
        "description": "ImageNet weights", "reason": "from the Keras cache"})
    rep = rp.build_report(run.path)
    captions = [c for c, _ in rep.section("images").tables]
    table = dict(rep.section("images").tables)[next(c for c in captions if c.startswith("Initial weights"))]
    assert table.set_index("backbone")["initial weights"].to_dict() == {
        "ResNet50V2": "ImageNet weights", "VGG16": "random initialisation (no ImageNet weights)"}
    md = rep.to_markdown()
    highlights = md[md.index("Highlights"):] if "Highlights" in md else md
    assert "VGG16 starts from **random initialisation (no ImageNet weights)**" in highlights
    assert "chosen on validation accuracy: **ResNet50V2 (frozen)**, ImageNet weights, test accuracy" in md


def _chance_csv(run, rel, accuracy=1 / 3):
    run.write_csv(rel, pd.DataFrame({"model": ["chance: majority class", "chance: stratified random"],
                                     "accuracy": [accuracy, accuracy], "macro-F1": [accuracy / 2, accuracy],
                                     "split": "test"}))


def test_no_best_among_models_at_chance_and_chance_rows_beside_the_scores(run):
    for mode, base in (("frozen", 0.33), ("finetune", 0.35)):
        for seed, d in ((0, 0.0), (1, 0.03), (2, -0.03)):
            _banana(run, "vgg16", mode, seed, base + d)
    run.write_json("banana/vgg16/weights.json", {"backbone": "vgg16", "asked": "auto", "used": "random",
                                                 "description": "random initialisation (no ImageNet weights)"})
    _chance_csv(run, "banana/vgg16/chance.csv")
    rep = rp.build_report(run.path)
    highlights = rep.section("highlights").text[0]
    assert "**at chance**" in highlights and "no model is called best" in highlights
    assert "Best" not in highlights and "best" not in highlights.replace("no model is called best", "")
    images = rep.section("images")
    assert images.text[0].startswith("**Random weights: vgg16")  # said at the top of the section
    assert any(c.startswith("Chance baselines") and list(t["model"]) == ["chance: majority class",
                                                                         "chance: stratified random"]
               for c, t in images.tables)


def test_a_model_above_chance_and_ahead_beyond_the_sds_is_called_best(run):
    for mode, base in (("frozen", 0.6), ("finetune", 0.9)):
        for seed, d in ((0, 0.0), (1, 0.01), (2, -0.01)):
            _banana(run, "vgg16", mode, seed, base + d)
    _chance_csv(run, "banana/vgg16/chance.csv")
    rep = rp.build_report(run.path)
    assert rep.facts["images_best"][0] == "best"
    assert "**vgg16 (finetune)**" in rep.section("highlights").text[0]


def test_chance_is_computed_from_the_split_when_not_recorded(run):
    _banana(run, "vgg16", "frozen", 0, 0.5)
    labels = [0] * 6 + [1] * 3 + [2] * 3
    run.write_csv("banana/vgg16/split.csv", pd.DataFrame(
        {"split": ["train"] * 12 + ["test"] * 12 + ["val"] * 12, "path": [f"p{i}" for i in range(36)],
         "label": labels * 3}))
    run.write_json("banana/vgg16/data.json", {"class_names": ["a", "b", "c"], "image_size": 32})
    rep = rp.build_report(run.path)
    chance = next(t for c, t in rep.section("images").tables if c.startswith("Chance baselines"))
    test = chance[chance["split"] == "test"].set_index("model")
    assert test.loc["chance: majority class", "accuracy"] == pytest.approx(0.5)
    assert test.loc["chance: stratified random", "accuracy"] == pytest.approx(0.5 * 0.5 + 2 * 0.25 * 0.25)


def test_grid_search_scores_beside_the_positive_rate_and_variants_as_03_defines_them(run):
    _full_tabular(run)
    for variant in ("original", "up"):
        run.write_csv(f"tabular/gridsearch/{variant}/summary.csv",
                      pd.DataFrame({"label": ["deep", "quick"], "positive_rate": [0.55, 0.1]}))
    run.record_notebook("03_gridsearch-up", status="completed", seconds=10.0, parameters={"label": "up", "delta": 0.01})
    rep = rp.build_report(run.path)
    caption, view = next((c, t) for c, t in rep.section("tabular").tables if c.startswith("Grid search per variant"))
    assert view["positive rate (= chance AP)"].tolist() == [0.55, 0.55, 0.1, 0.1]
    assert rep.facts["tabular_at_chance"] == (1, 4)  # deep/original: 0.5 ± 0.02 is not above 0.55
    data = "\n".join(rep.section("data").text)
    assert "up (the rows plus a copy with every feature +0.01)" in data and "oversampling to the majority" not in \
        data.split("04 then")[0]


def _cnn(run, family, variant, seed, val, test, spec="C8-P-D16"):
    """One 07 unit as helpers.training.architecture.run_family writes it (folder named by the variant's slug)."""
    rel = layout.family_unit(family, variant, seed)
    run.write_json(f"{rel}/{layout.RESULT}", {"digest": "d", "inputs": {}, "row": {
        "family": family, "variant": variant, "spec": spec, "augment": False, "seed": seed, "params": 100,
        "train_accuracy": val + 0.1, "val_accuracy": val, "val_accuracy_best": val, "test_accuracy": test,
        "test_macro_f1": test - 0.05, "mean_epoch_seconds": 1.0, "split": "train / val / test"}})
    run.write_csv(f"{rel}/{layout.HISTORY}", _history())
    run.mark_complete(rel)


def _ablation(run, variant, seed, macro_f1, accuracy=0.5):
    """One 08 unit as helpers.training.imbalance.run_ablation writes it."""
    rel = layout.ablation_unit(variant, seed)
    run.write_json(f"{rel}/{layout.RESULT}", {"digest": "d", "inputs": {}, "row": {
        "variant": variant, "seed": seed, "accuracy": accuracy, "macro_f1": macro_f1, "head_recall": 0.9,
        "tail_recall": 0.1, "mean_epoch_seconds": 1.0, "split": "test"}})
    run.write_csv(f"{rel}/{layout.HISTORY}", _history())
    run.mark_complete(rel)


def _two_split_chance(run, rel, accuracy):
    run.write_csv(rel, pd.DataFrame({"model": ["chance: majority class", "chance: stratified random"] * 2,
                                     "accuracy": [accuracy, accuracy - 0.01] * 2,
                                     "macro-F1": [accuracy / 2, accuracy - 0.02] * 2,
                                     "split": ["val", "val", "test", "test"]}))


def test_cnn_variants_at_chance_are_never_called_best(run):
    for family, variants in (("depth", ("1 block", "2 blocks")), ("input_size", ("16 px", "32 px"))):
        for variant, val in zip(variants, (0.33, 0.36)):
            for seed, d in ((0, 0.0), (1, 0.02), (2, -0.02)):
                _cnn(run, family, variant, seed, val + d, val + d)
    _two_split_chance(run, layout.CNN_CHANCE, 0.34)
    rep = rp.build_report(run.path)
    assert rep.facts["cnn_architecture_overall"][0] == "at chance"
    assert {status for status, *_ in rep.facts["cnn_architecture_best"]} == {"at chance"}
    highlights = rep.section("highlights").text[0]
    assert "at chance" in highlights and "best" not in highlights.lower()
    assert "every variant is at chance (highest: 32 px)" in "\n".join(rep.section("discussion").text)


def test_cnn_variant_above_chance_and_ahead_beyond_the_sds_is_chosen_on_validation(run):
    for variant, val, test in (("16 px", 0.50, 0.90), ("32 px", 0.80, 0.60)):  # test would pick 16 px: not used
        for seed, d in ((0, 0.0), (1, 0.01), (2, -0.01)):
            _cnn(run, "input_size", variant, seed, val + d, test + d)
    _two_split_chance(run, layout.CNN_CHANCE, 0.34)
    rep = rp.build_report(run.path)
    status, family, variant, metric, *_ = rep.facts["cnn_architecture_overall"]
    assert (status, family, variant, metric) == ("best", "input_size", "32 px", "val_accuracy")
    caption, table = rep.section("cnn_architecture").tables[0]
    assert {"val accuracy", "test accuracy"} <= set(table.columns) and "ranking column `val accuracy`" in caption
    row = table.set_index("variant").loc["32 px"]
    assert row["val accuracy"] == "0.800 ± 0.010" and row["test accuracy"] == "0.600 ± 0.010"
    chance = table[table["family"] == "chance"].set_index("variant")
    assert chance.loc["chance: majority class", "val accuracy"] == "0.340"
    assert chance.loc["chance: majority class", "test accuracy"] == "0.340"
    assert "chosen on validation: **32 px** (input_size)" in rep.section("highlights").text[0]


def test_chance_rows_appear_in_each_accuracy_table_when_chance_csv_exists(run):
    for seed, d in ((0, 0.0), (1, 0.01)):
        _banana(run, "vgg16", "frozen", seed, 0.8 + d)
        _cnn(run, "depth", "1 block", seed, 0.7 + d, 0.7 + d)
        _ablation(run, "baseline", seed, 0.5 + d)
    rows = [{"strategy": s, "seed": k, "split": split, "macro_f1": 0.6, "accuracy": 0.7}
            for s in ("original", "random_oversampling") for k in (0, 1) for split in ("val", "test")]
    run.write_csv(layout.RETRAIN_COMPARISON, pd.DataFrame(rows))
    _two_split_chance(run, f"{layout.backbone_dir('vgg16')}/{layout.BACKBONE_CHANCE}", 0.34)
    _two_split_chance(run, layout.CNN_CHANCE, 0.35)
    _two_split_chance(run, layout.IMBALANCED_CHANCE, 0.36)
    _chance_csv(run, layout.RETRAIN_CHANCE, 0.4)
    rep = rp.build_report(run.path)
    guessers = {"chance: majority class", "chance: stratified random"}
    images = rep.section("images").tables[0][1]
    assert guessers <= set(images["backbone"])
    assert images.set_index("backbone").loc["chance: majority class", "test accuracy"] == "0.340"
    assert images.set_index("backbone").loc["vgg16", "initial weights"] == "not recorded"
    for key, level in (("cnn_architecture", "0.350"), ("imbalanced", "0.360")):
        table = rep.section(key).tables[0][1].set_index("variant")
        assert guessers <= set(table.index) and table.loc["chance: majority class", "test accuracy"] == level
    retrain = next(t for c, t in rep.section("tabular").tables if c.startswith("Retraining comparison"))
    assert retrain.set_index("strategy").loc["chance: majority class", "accuracy"] == "0.400"
    md = rep.to_markdown()
    assert md.count("Chance baselines") == 4 and "not recorded" not in md.split("## Environment")[0].replace(
        "initial weights", "").replace("| not recorded |", "")


def test_chance_is_computed_from_08_class_counts_and_arbitrary_variant_names_are_compared(run):
    for seed, d in ((0, 0.0), (1, 0.01), (2, -0.01)):
        _ablation(run, "baseline", seed, 0.30 + d)
        _ablation(run, "+label smoothing (loss) eps=0.2", seed, 0.60 + d)
    run.write_csv("imbalanced/class_counts.csv", pd.DataFrame({"class": ["a", "b", "c"], "train": [40, 8, 2],
                                                               "val": [10, 5, 5], "test": [10, 5, 5]}))
    rep = rp.build_report(run.path)
    section = rep.section("imbalanced")
    chance = next(t for c, t in section.tables if c.startswith("Chance baselines"))
    assert "computed by the report from `imbalanced/class_counts.csv`" in next(
        c for c, _t in section.tables if c.startswith("Chance baselines"))
    test = chance[chance["split"] == "test"].set_index("model")
    assert test.loc["chance: majority class", "accuracy"] == pytest.approx(0.5)
    assert test.loc["chance: stratified random", "accuracy"] == pytest.approx(0.5 * 0.8 + 0.25 * 0.16 + 0.25 * 0.04,
                                                                               abs=1e-3)
    assert any(v.verdict == "differ" and "+label smoothing (loss) eps=0.2 is higher" in v.sentence
               for v in section.verdicts)
    assert "+label smoothing (loss) eps=0.2 +0.300" in rep.section("highlights").text[0]


def test_chance_not_recorded_is_said(run):
    for seed in (0, 1):
        _cnn(run, "depth", "1 block", seed, 0.5, 0.5)
    rep = rp.build_report(run.path)
    assert any(t.startswith("Chance: not recorded") for t in rep.section("cnn_architecture").text)
    assert not any(c.startswith("Chance baselines") for c, _t in rep.section("cnn_architecture").tables)


def test_tabular_chance_and_positive_rate_computed_from_03_counts_when_not_recorded(run):
    counts = {"normal": (30, 12), "deep": (15, 6), "quick": (5, 2)}  # (train, test) positives; 50 / 20 rows
    for variant, base in (("original", 0.5), ("up", 0.9)):
        for label, (train, test) in counts.items():
            rel = f"tabular/gridsearch/{variant}/{label}"
            run.write_json(f"{rel}/best_params.json", {
                "best_params": {}, "scoring": "average_precision", "n_train_rows": 50, "n_train_positive": train,
                "cv": {"average_precision": {"mean": base, "std": 0.01}}})
            run.write_json(f"{rel}/test_scores.json", {"n_rows": 20, "n_positive": test, "average_precision": base})
            run.mark_complete(rel)
    rows = [{"strategy": "original", "seed": k, "split": "test", "macro_f1": 0.5, "accuracy": 0.7} for k in (0, 1)]
    run.write_csv(layout.RETRAIN_COMPARISON, pd.DataFrame(rows))
    rep = rp.build_report(run.path)
    tab = rep.section("tabular")
    view = next(t for c, t in tab.tables if c.startswith("Grid search per variant"))
    assert view.set_index(["label", "variant"]).loc[("normal", "up"), "positive rate (= chance AP)"] == 0.6
    winners = rep.facts["tabular_winners"].set_index("label")
    assert winners.loc["normal", "verdict"] == "chosen (ahead beyond the SDs)"
    assert winners.loc["deep", "positive rate (= chance AP)"] == pytest.approx(0.3)
    chance_caption, chance = next((c, t) for c, t in tab.tables if c.startswith("Chance baselines"))
    assert "computed by the report from 03's per-label counts" in chance_caption
    assert chance.set_index("model").loc["chance: majority class", "accuracy"] == pytest.approx(0.6)


def test_tabular_winner_below_the_positive_rate_is_at_chance(run):
    for variant, score in (("original", 0.40), ("up", 0.58)):
        _gridsearch(run, variant, "deep", score)
    run.write_csv("tabular/gridsearch/original/summary.csv", pd.DataFrame({"label": ["deep"], "positive_rate": [0.6]}))
    run.write_csv("tabular/gridsearch/up/summary.csv", pd.DataFrame({"label": ["deep"], "positive_rate": [0.6]}))
    rep = rp.build_report(run.path)
    winners = rep.facts["tabular_winners"].set_index("label")
    assert winners.loc["deep", "verdict"] == "at chance"
    assert "at chance: not above the positive rate 0.600" in winners.loc["deep", "sentence"]
    assert "Tabular grid search" not in rep.section("highlights").text[0]


def test_random_weights_from_the_manifest_are_said_first_in_the_section_highlights_and_table(run):
    for seed, acc in ((0, 0.34), (1, 0.35)):
        _banana(run, "VGG16", "frozen", seed, acc)
    run.update_manifest(lambda m: m.setdefault("weights", {}).__setitem__("VGG16", {
        "backbone": "VGG16", "asked": "auto", "used": "random", "reason": "offline",
        "description": "random initialisation (no ImageNet weights)"}))
    rep = rp.build_report(run.path)
    images = rep.section("images")
    assert images.text[0].startswith("**Random weights: VGG16")
    table = next(t for c, t in images.tables if c.startswith("Backbone x mode"))
    assert table.set_index("backbone").loc["VGG16", "initial weights"] == "random initialisation (no ImageNet weights)"
    assert rep.section("highlights").text[0].startswith("- Transfer learning without ImageNet weights: VGG16")


def test_variants_and_shares_as_the_notebooks_define_them(run):
    _full_tabular(run)
    for key, params in (("03_gridsearch-original", {"label": "original", "val_size": 0.2}),
                        ("07_cnn_architecture", {"val_size": 0.15, "test_size": 0.25}),
                        ("08_imbalanced_training", {"val_size": 0.1, "test_size": 0.3})):
        run.record_notebook(key, status="completed", seconds=1.0, parameters=params)
    data = "\n".join(rp.build_report(run.path).section("data").text)
    # no delta in the manifest: the smoke profile's value
    assert ("original (the rows as they are), up (the rows plus a copy with every feature +0.01), down (plus a copy "
            "-0.01), updown (plus both copies, 3x the rows)") in data
    assert "val_size, of the training part) per notebook: 03: 0.2, 07: 0.15, 08: 0.1" in data
    assert "test share (test_size) per notebook: 07: 0.25, 08: 0.3" in data
    assert "val_fraction" not in data


def test_positive_rate_not_recorded_is_said(run):
    for variant in ("original", "up"):
        _gridsearch(run, variant, "deep", 0.7)  # no summary.csv, no counts, no class counts
    rep = rp.build_report(run.path)
    assert any("Positive rate per label" in t and "not recorded" in t for t in rep.section("tabular").text)
    assert rep.facts["tabular_winners"].set_index("label").loc["deep", "verdict"] == "no clear winner"


def test_retraining_strategy_is_chosen_on_validation_and_at_chance_is_said(run):
    rows = [{"strategy": s, "seed": k, "split": split, "macro_f1": f1 + 0.01 * k, "accuracy": 0.5}
            for s, val, test in (("original", 0.30, 0.36), ("random_oversampling", 0.60, 0.31))
            for k in (0, 1, 2) for split, f1 in (("val", val), ("test", test))]
    run.write_csv(layout.RETRAIN_COMPARISON, pd.DataFrame(rows))
    _chance_csv(run, layout.RETRAIN_CHANCE, accuracy=0.6)  # macro-F1 of the stratified guesser: 0.6
    rep = rp.build_report(run.path)
    status, name, *_rest, chosen, level = rep.facts["retrain_best"]
    assert (status, name, chosen, level) == ("at chance", "random_oversampling", "validation", 0.6)
    discussion = "\n".join(rep.section("discussion").text)
    assert "(random_oversampling) is **at chance** on the test split" in discussion
    assert "Retraining" not in rep.section("highlights").text[0]


def test_the_transfer_model_chosen_on_validation_needs_test_accuracy_and_macro_f1_above_chance(run):
    for mode, base in (("frozen", 0.6), ("finetune", 0.9)):
        for seed, d in ((0, 0.0), (1, 0.01), (2, -0.01)):
            _banana(run, "vgg16", mode, seed, base + d)  # macro-F1 0.88 ± 0.01 for the fine-tuned one
    run.write_csv("banana/vgg16/chance.csv", pd.DataFrame({
        "model": ["chance: majority class", "chance: stratified random"], "accuracy": [1 / 3, 1 / 3],
        "macro-F1": [0.3, 0.9], "split": "test"}))  # accuracy well above chance, macro-F1 not
    rep = rp.build_report(run.path)
    assert rep.facts["images_best"][0] == "at chance"
    highlights = rep.section("highlights").text[0]
    assert "**at chance**" in highlights and "macro-F1 are not both above chance" in highlights
