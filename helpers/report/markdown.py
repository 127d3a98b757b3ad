"""Writing the report: ``report/report.md`` and its figures into the run, and publishing a run into
the README (figures copied to ``images/``, the text between the results markers regenerated)."""

from __future__ import annotations

import datetime as _dt
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from helpers import layout, profiles, runs
from helpers.report.document import NOT_RUN, Report, markdown_table
from helpers.report.summary import build_report, data_source, notebook_parameters

__all__ = ["write_report", "results_markdown", "replace_between_markers", "published_figures", "publish",
           "RESULTS_START", "RESULTS_END"]

RESULTS_START = "<!-- RESULTS:START -->"
RESULTS_END = "<!-- RESULTS:END -->"


def write_report(report: Report, run: runs.Run | str | os.PathLike | None = None) -> Path:
    """Write ``report/report.md`` and ``report/figures/*.png`` into the run (each file atomically).

    Returns the path of ``report.md``.
    """
    import matplotlib.pyplot as plt

    if not isinstance(run, runs.Run):
        run = runs.Run(report.run_path if run is None else runs.resolve_run_path(run))
    for section in report.sections:
        for name, fig, _caption in section.figures:
            if isinstance(fig, (str, os.PathLike)):
                with runs.atomic_path(run.file(layout.report_figure(name))) as tmp:
                    shutil.copyfile(fig, tmp)
            else:
                run.save_figure(layout.report_figure(name), fig)
                plt.close(fig)
    return run.write_text(layout.REPORT_MARKDOWN, report.to_markdown("figures"))


def reproduce_command(manifest: dict) -> str:
    """The runner command that redoes a run: its profile, the notebooks it executed, its data flags."""
    parts = ["python -m helpers.pipeline", f"--profile {manifest.get('profile') or 'demo'}"]
    executed = sorted({k[:2] for k, _p in notebook_parameters(manifest)})
    if executed and executed != sorted({n[:2] for n in profiles.available_notebooks()}):
        parts.append("--only " + ",".join(executed))
    for notebooks, name, flag in ((profiles.TABULAR_NOTEBOOKS, "data_path", "--tabular-data"),
                                  (profiles.IMAGE_NOTEBOOKS, "data_dir", "--image-data")):
        given = next((p[name] for _k, p in notebook_parameters(manifest, notebooks) if p.get(name)), None)
        if given:
            parts.append(f"{flag} {shlex.quote(str(given))}")
    argv = (manifest.get("parameters") or {}).get("argv") or []
    for i, a in enumerate(argv):
        if a == "--set" and i + 1 < len(argv):
            parts.append(f"--set {shlex.quote(argv[i + 1])}")
        elif a.startswith("--set="):
            parts.append(f"--set {shlex.quote(a[6:])}")
    return " ".join(parts)


def published_figures(report: Report, limit: int = 4) -> list[tuple[str, str]]:
    """The figures worth showing in the README: (name, caption) of the first figure of each results section."""
    chosen = []
    for key in ("images", "tabular", "cnn_architecture", "imbalanced"):
        for section in (s for s in report.sections if s.key == key):
            chosen += [(name, caption) for name, _fig, caption in section.figures
                       if name.startswith(("images_history", "tabular_history", "gradcam", "tabular_class_counts"))][:1]
    return chosen[:limit]


def _repo_url(repo: str | os.PathLike | None) -> str:
    """The repository URL from ``pyproject.toml`` ([project.urls] Repository), or a placeholder."""
    path = Path(repo or runs.repo_root()) / "pyproject.toml"
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', path.read_text() if path.exists() else "", flags=re.M)
    return match.group(1).rstrip("/") if match else "<repository URL>"


def results_markdown(report: Report, figures: Sequence[tuple[str, str]], image_prefix: str = "images",
                     repo: str | os.PathLike | None = None) -> str:
    """The README's results section (the text between the markers)."""
    data = "; ".join(f"{k}: {v}" for k, v in data_source(report.manifest).items()) or "no data recorded"
    created = str(report.manifest.get("created", ""))[:10] or _dt.date.today().isoformat()
    small = (" -- small data and few epochs, so the numbers show that the pipeline works rather than the best "
             "achievable accuracy" if report.profile in ("smoke", "demo") else "")
    lines = [f"These results come from run `{report.run_id}` ({created}), profile **`{report.profile}`**{small}. "
             f"Data: {data}.", "", "Reproduce them with:", "", "```bash", reproduce_command(report.manifest),
             f"python -m helpers.pipeline report --publish runs/{report.run_id}", "```", "",
             "To reproduce the brief's settings (`full` profile: full grid, 224 px images, ImageNet weights, 3+ seeds), "
             "open a Colab notebook with a GPU runtime and run:", "", "```",
             f"!git clone {_repo_url(repo)} deep-learning-course", "%cd deep-learning-course",
             "!python -c \"from helpers import colab; colab.install('.', runner=True)\"",
             "!python -m helpers.pipeline --profile full", "!python -m helpers.pipeline report", "```", "",
             "**Highlights** (generated from the run's numbers):", "", report.section("highlights").text[0], ""]
    for section in (s for key in ("images", "tabular") for s in report.sections if s.key == key):
        if section.status != NOT_RUN and section.tables:
            caption, frame = next(((c, f) for c, f in section.tables if "mean ± SD" in c or "Chosen variant" in c),
                                  section.tables[0])
            lines += [f"**{caption}**", "", markdown_table(frame), ""]
    lines += [line for name, caption in figures for line in (f"![{caption}]({image_prefix}/{name}.png)", "")]
    lines.append(f"The full report (every table, verdict and figure) is written to "
                 f"`runs/{report.run_id}/{layout.REPORT_MARKDOWN}`.")
    return "\n".join(lines).rstrip() + "\n"


def replace_between_markers(text: str, new: str, start: str = RESULTS_START, end: str = RESULTS_END,
                            name: str = "README.md") -> str:
    """Replace what lies between ``start`` and ``end`` (markers kept); everything else stays byte for byte."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"{name} must contain {start} followed by {end}; found start={i >= 0}, end={j >= 0}")
    return text[: i + len(start)] + "\n" + new.rstrip("\n") + "\n" + text[j:]


def publish(run_dir: str | os.PathLike | runs.Run | None, repo_root: str | os.PathLike | None = None,
            report: Report | None = None) -> dict:
    """Write the report into the run, copy the selected figures into ``<repo>/images/`` and regenerate the
    README's results section between the markers (only there). Returns the paths ``report``, ``readme``, ``images``.
    """
    repo = Path(repo_root) if repo_root else runs.repo_root()
    readme = repo / "README.md"
    if not readme.exists():
        raise FileNotFoundError(f"{readme} does not exist: expected the repository's README with the "
                                f"{RESULTS_START} / {RESULTS_END} markers")
    original = readme.read_text()
    replace_between_markers(original, "", name=str(readme))  # fail before writing anything
    report = report or build_report(run_dir)
    run = runs.Run(report.run_path)
    md_path = write_report(report, run)
    chosen, copied = published_figures(report), []
    for name, _caption in chosen:
        copied.append(repo / "images" / f"{name}.png")
        copied[-1].parent.mkdir(parents=True, exist_ok=True)
        with runs.atomic_path(copied[-1]) as tmp:
            shutil.copyfile(run.path / layout.report_figure(name), tmp)
    with runs.atomic_path(readme) as tmp:
        tmp.write_text(replace_between_markers(original, results_markdown(report, chosen, repo=repo), name=str(readme)))
    return {"report": md_path, "readme": readme, "images": copied}
