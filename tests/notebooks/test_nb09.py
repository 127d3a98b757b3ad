"""Smoke test of 09_results_report: the report of the shared smoke run mentions every track that ran."""

from __future__ import annotations

from helpers import pipeline

TRACKS = {  # run folder -> report section title
    "tabular": "Tabular track",
    "banana": "Image track",
    "cnn_architecture": "CNN architecture search",
    "imbalanced": "Ablation: imbalanced-training techniques",
}


def test_report_of_the_smoke_run(smoke):
    for notebook in pipeline.available_notebooks():
        if notebook != "09_results_report":
            smoke.ensure(notebook)
    run = smoke.ensure("09_results_report")
    report_md = run.path / "report" / "report.md"
    assert report_md.exists(), "09 did not write report/report.md"
    text = report_md.read_text()
    assert f"run `{run.run_id}`" in text and "Profile **smoke**" in text
    for folder, title in TRACKS.items():
        assert f"## {title}" in text
        section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
        if (run.path / folder).is_dir():
            assert "*not run*" not in section, f"{folder}/ exists but the report says not run"
        else:
            assert "*not run*" in section, f"{folder}/ is absent but the report does not say not run"
    for figure in (run.path / "report" / "figures").glob("*.png"):
        assert f"figures/{figure.name}" in text
    assert "Wall time per notebook execution" in text
    assert run.manifest["notebooks"]["09_results_report"]["status"] == "completed"
