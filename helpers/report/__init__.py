"""The results report: one run directory becomes tables, figures, verdicts and a README section.

    python -m helpers.pipeline report                    # report of the latest run
    python -m helpers.pipeline report RUN_DIR            # a run given by path or id
    python -m helpers.pipeline report --publish RUN_DIR  # also copy figures to images/ and update README

:func:`build_report` reads the manifest and each track's artifacts (:mod:`.readers`, paths from
:mod:`helpers.layout`) and builds the sections (:mod:`.tracks`, :mod:`.summary`); :func:`write_report`
and :func:`publish` write them (:mod:`.markdown`). A track that did not run is "not run"; a broken
artifact is a problem naming the file, never a crash. Every number comes from the run, every table
says its split, verdicts come from :mod:`helpers.evaluation.verdicts`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from helpers.report.document import NOT_RUN, Report, Section, markdown_table
from helpers.report.markdown import RESULTS_END, RESULTS_START, publish, results_markdown, write_report
from helpers.report.readers import compact_layers, keras_architecture, load_images
from helpers.report.summary import build_report
from helpers.report.tracks import history_figure, weights_table

__all__ = ["build_report", "write_report", "show", "publish", "results_markdown", "main", "Report", "Section",
           "NOT_RUN", "RESULTS_START", "RESULTS_END", "markdown_table", "load_images", "weights_table",
           "keras_architecture", "compact_layers", "history_figure"]


def show(report: Report, key: str, figures: bool = True) -> None:
    """Display one section in a notebook: its text, tables (as DataFrames), verdicts and figures."""
    from IPython.display import Image, Markdown, display

    section = report.section(key)
    if section.status == NOT_RUN:
        display(Markdown(f"**{section.title}**: *{NOT_RUN}*" + (f" ({section.text[0]})" if section.text else "")))
        return
    parts = [f"> **Problem:** {p}" for p in section.problems] + section.text
    if parts:
        display(Markdown("\n\n".join(parts)))
    for caption, frame in section.tables:
        display(Markdown(f"**{caption}**"), frame)
    if section.verdicts:
        display(Markdown("\n".join(f"- {v.sentence}" for v in section.verdicts)))
    for _name, fig, caption in section.figures if figures else ():
        display(Markdown(f"*{caption}*"), Image(filename=str(fig)) if isinstance(fig, (str, os.PathLike)) else fig)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``report [RUN_DIR]`` writes the report; ``report --publish [RUN_DIR]`` also publishes it."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline report",
                                     description="Build the results report of a run (default: the latest run).")
    parser.add_argument("run_dir", nargs="?", default=None, help="run directory or run id (default: latest run)")
    parser.add_argument("--publish", action="store_true",
                        help="also copy figures into images/ and regenerate the README results section")
    parser.add_argument("--repo-root", default=None, help="repository folder holding README.md (default: this one)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        report = build_report(args.run_dir)
        if args.publish:
            out = publish(None, args.repo_root, report=report)
            print(f"report: {out['report']}\nREADME results section updated: {out['readme']}")
            for p in out["images"]:
                print(f"figure: {p}")
        else:
            print(f"report: {write_report(report)}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    return 0
