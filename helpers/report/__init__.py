"""The results report of one run: ``python -m helpers.pipeline report [--publish] [RUN_DIR]`` (:func:`main`)."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers import layout, profiles, runs
from helpers.report.document import NOT_RUN, Report, Section, markdown_table
from helpers.report.readers import compact_layers, keras_architecture, load_images
from helpers.report.summary import build_report, data_source, notebook_parameters
from helpers.report.tracks import history_figure, weights_table

__all__ = ["build_report", "write_report", "show", "publish", "results_markdown", "main", "Report", "Section",
           "NOT_RUN", "RESULTS_START", "RESULTS_END", "markdown_table", "load_images", "weights_table",
           "keras_architecture", "compact_layers", "history_figure", "replace_between_markers", "reproduce_command"]

RESULTS_START, RESULTS_END = "<!-- RESULTS:START -->", "<!-- RESULTS:END -->"
README_SECTIONS = ("cnn_architecture", "images", "tabular", "imbalanced")  # in the README's order
README_TABLES = 3  # the main table of the first three sections
# the showcase first: the CNN chosen on validation, a model that learns on the demo's 2 CPU cores
README_FIGURES = ("cnn_architecture_best_history", "images_history", "tabular_history", "gradcam",
                  "tabular_class_counts", "imbalanced_per_class_f1")


def _copy(source, target: Path) -> Path:
    with runs.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def write_report(report: Report, run: runs.Run | str | os.PathLike | None = None) -> Path:
    """Write ``report/report.md`` and its figures into the run (default: the report's), atomically; returns its path."""
    import matplotlib.pyplot as plt
    if not isinstance(run, runs.Run):
        run = runs.Run(report.run_path if run is None else runs.resolve_run_path(run))
    for name, fig, _caption in (f for s in report.sections for f in s.figures):
        if isinstance(fig, (str, os.PathLike)):
            _copy(fig, run.file(layout.report_figure(name)))
        else:
            run.save_figure(layout.report_figure(name), fig)
            plt.close(fig)
    return run.write_text(layout.REPORT_MARKDOWN, report.to_markdown("figures"))


def reproduce_command(manifest: dict) -> str:
    """The runner command that redoes a run: its profile, the notebooks it executed, its data flags, its --set."""
    parts = ["python -m helpers.pipeline", f"--profile {manifest.get('profile') or 'demo'}"]
    executed = sorted({k[:2] for k, _p in notebook_parameters(manifest)})
    if executed and executed != sorted({n[:2] for n in profiles.available_notebooks()}):
        parts.append("--only " + ",".join(executed))
    for notebooks, name, flag in ((profiles.TABULAR_NOTEBOOKS, "data_path", "--tabular-data"),
                                  (profiles.IMAGE_NOTEBOOKS, "data_dir", "--image-data")):
        if given := next((p[name] for _k, p in notebook_parameters(manifest, notebooks) if p.get(name)), None):
            parts.append(f"{flag} {shlex.quote(str(given))}")
    argv = (manifest.get("parameters") or {}).get("argv") or []
    values = (argv[i + 1] if a == "--set" else a[6:] for i, a in enumerate(argv)
              if (a == "--set" and i + 1 < len(argv)) or a.startswith("--set="))
    return " ".join(parts + [f"--set {shlex.quote(v)}" for v in values])


def published_figures(report: Report, limit: int = 4) -> list[tuple[str, str]]:
    """The figures worth showing in the README: (name, caption) of the first figure of each results section; for
    transfer learning, the curves of the model chosen on validation (its caption says when it is at chance)."""
    preferred = {}
    if best := report.facts.get("images_best"):  # the transfer model chosen on validation, said when at chance
        status, backbone, mode = best[:3]
        preferred["images"] = (f"images_history_{backbone}_{mode}", "" if status == "best" else
                               f" -- {status} on the test split, not a model to learn from")
    chosen = []
    for key in README_SECTIONS:
        for s in (s for s in report.sections if s.key == key):
            name, note = preferred.get(key, ("", ""))
            found = next(((n, c + note) for n, _f, c in s.figures if name and n == name), None) or next(
                ((n, c) for n, _f, c in s.figures if n.startswith(README_FIGURES)), None)
            chosen.append(found)
    return [c for c in chosen if c][:limit]


def results_markdown(report: Report, figures: Sequence[tuple[str, str]], image_prefix: str = "images",
                     repo: str | os.PathLike | None = None) -> str:
    """The README's results section (between the markers); Colab clones the Repository in ``<repo>/pyproject.toml``."""
    pyproject = Path(repo or runs.repo_root()) / "pyproject.toml"
    url = re.search(r'^Repository\s*=\s*"([^"]+)"', pyproject.read_text() if pyproject.exists() else "", flags=re.M)
    data = "; ".join(f"{k}: {v}" for k, v in data_source(report.manifest).items()) or "no data recorded"
    created = str(report.manifest.get("created", ""))[:10] or _dt.date.today().isoformat()
    small = (" -- small data and few epochs, so the numbers show that the pipeline works rather than the best "
             "achievable accuracy" if report.profile in ("smoke", "demo") else "")
    lines = [f"These results come from run `{report.run_id}` ({created}), profile **`{report.profile}`**{small}. "
             f"Data: {data}.", "", "Reproduce them with:", "", "```bash", reproduce_command(report.manifest),
             f"python -m helpers.pipeline report --publish runs/{report.run_id}", "```", "",
             "To reproduce the brief's settings (`full` profile: full grid, 224 px images, ImageNet weights, 3+ "
             "seeds), open a Colab notebook with a GPU runtime and run:", "", "```",
             f"!git clone {url.group(1).rstrip('/') if url else '<repository URL>'} deep-learning-course",
             "%cd deep-learning-course", "!python -c \"from helpers import colab; colab.install('.', runner=True)\"",
             "!python -m helpers.pipeline --profile full", "!python -m helpers.pipeline report", "```", "",
             "**Highlights** (generated from the run's numbers):", "", report.section("highlights").text[0], ""]
    for s in [s for key in README_SECTIONS[:README_TABLES] for s in report.sections if s.key == key]:
        if s.status != NOT_RUN and s.tables:
            caption, frame = next((t for t in s.tables if "mean ± SD" in t[0] or "Variant per label" in t[0]),
                                  s.tables[0])
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
    """Write the report, copy its figures to ``<repo>/images/``, rewrite the README's results; return the paths."""
    readme = (Path(repo_root) if repo_root else runs.repo_root()) / "README.md"
    if not readme.exists():
        raise FileNotFoundError(f"{readme} does not exist: expected the repository's README with the "
                                f"{RESULTS_START} / {RESULTS_END} markers")
    original = readme.read_text()
    replace_between_markers(original, "", name=str(readme))  # fail before writing anything
    report = report or build_report(run_dir)
    md_path, chosen = write_report(report), published_figures(report)
    copied = [_copy(report.run_path / layout.report_figure(n), readme.parent / "images" / f"{n}.png")
              for n, _c in chosen]
    new = results_markdown(report, chosen, repo=readme.parent)
    with runs.atomic_path(readme) as tmp:
        tmp.write_text(replace_between_markers(original, new, name=str(readme)))
    return {"report": md_path, "readme": readme, "images": copied}


def show(report: Report, key: str, figures: bool = True) -> None:
    """Display one section in a notebook: its text, tables (as DataFrames), verdicts and figures."""
    from IPython.display import Image, Markdown, display
    s = report.section(key)
    if s.status == NOT_RUN:
        return display(Markdown(f"**{s.title}**: *{NOT_RUN}*" + (f" ({s.text[0]})" if s.text else "")))
    if parts := [f"> **Problem:** {p}" for p in s.problems] + s.text:
        display(Markdown("\n\n".join(parts)))
    for caption, frame in s.tables:
        display(Markdown(f"**{caption}**"), frame)
    if s.verdicts:
        display(Markdown("\n".join(f"- {v.sentence}" for v in s.verdicts)))
    for _name, fig, caption in s.figures if figures else ():
        display(Markdown(f"*{caption}*"), Image(filename=str(fig)) if isinstance(fig, (str, os.PathLike)) else fig)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``report [RUN_DIR]`` writes the report; ``report --publish [RUN_DIR]`` also publishes it."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline report",
                                     description="Build the results report of a run (default: the latest run).")
    parser.add_argument("run_dir", nargs="?", help="run directory or run id (default: latest run)")
    parser.add_argument("--publish", action="store_true",
                        help="also copy figures into images/ and regenerate the README results section")
    parser.add_argument("--repo-root", help="repository folder holding README.md (default: this one)")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.run_dir)
        out = publish(None, args.repo_root, report=report) if args.publish else {"report": write_report(report)}
        print(f"report: {out['report']}")
        if args.publish:
            print(f"README results section updated: {out['readme']}", *(f"figure: {p}" for p in out["images"]),
                  sep="\n")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    return 0
