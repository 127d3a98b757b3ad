"""Point the course at its repository: the one command that writes the repository URL everywhere.

    python tools/set_repo_url.py https://github.com/OWNER/NAME   # after forking the course
    python tools/set_repo_url.py                                 # rewrite from pyproject.toml's URL

It writes the URL into pyproject.toml (``[project.urls] Repository``, the one place it lives), then
rewrites from it the Open-in-Colab badges of the README's notebook table (each pointing at
``<URL>/blob/main/notebooks/<file>.ipynb``), the old URL's other mentions in the README and
Citing.bib, the badge in every notebook's first cell and every notebook's Colab setup cell
(``tools/notebook.py::COLAB_CELL``, whose ``REPO_URL`` line clones the repository in Colab). It prints
what it changed; running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.notebook import colab_badge, colab_cell, repo_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"^https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
MENTIONS = ("Citing.bib", "CONTRIBUTING.md")  # other files that name the repository
BADGE_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
README_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*/notebooks/([\w.-]+\.ipynb)\)")


def check_url(url: str) -> str:
    """``url`` without a trailing slash or ``.git``; a ValueError naming the expected form otherwise."""
    url = url.strip().rstrip("/").removesuffix(".git")
    if not URL.match(url):
        raise ValueError(f"repository URL {url!r} is not valid: expected https://github.com/OWNER/NAME")
    return url


def readme_badges(text: str, root: Path = ROOT) -> str:
    """``text`` with every Open-in-Colab badge between the BADGES markers pointing at pyproject's URL."""
    def block(match: re.Match) -> str:
        return README_BADGE.sub(lambda m: colab_badge(m.group(1), root), match.group(0))

    return re.sub(r"<!-- BADGES:START.*?<!-- BADGES:END -->", block, text, flags=re.S)


def set_repo_url(url: str | None, root: Path = ROOT) -> list[str]:
    """Write ``url`` (or pyproject's, when None) everywhere; return the files that changed."""
    changed = []
    pyproject = root / "pyproject.toml"
    old = repo_url(root)
    if url is not None:
        url = check_url(url)
        text = pyproject.read_text()
        new = re.sub(r'^(Repository\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{url}"', text, flags=re.M)
        if new != text:
            pyproject.write_text(new)
            changed.append("pyproject.toml")
    url = repo_url(root)
    readme = root / "README.md"
    text = readme.read_text()
    new = readme_badges(text, root).replace(old, url)  # e.g. the `git clone` line of the Colab instructions
    if new != text:
        readme.write_text(new)
        changed.append("README.md")
    for name in MENTIONS:
        path = root / name
        if path.is_file() and old != url and old in path.read_text():
            path.write_text(path.read_text().replace(old, url))
            changed.append(name)
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        title, setup = nb.cells[0], nb.cells[1]
        badge = colab_badge(path.name, root)
        new_title = BADGE_LINK.sub(lambda _, badge=badge: badge, title.source) if BADGE_LINK.search(title.source) \
            else title.source + "\n\n" + badge
        new_setup = colab_cell(url)
        if (new_title, new_setup) != (title.source, setup.source):
            title.source, setup.source = new_title, new_setup
            nbformat.write(nb, str(path))
            changed.append(str(path.relative_to(root)))
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=None, help="https://github.com/OWNER/NAME (default: pyproject's)")
    args = parser.parse_args(argv)
    try:
        changed = set_repo_url(args.url)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"repository URL: {repo_url()}")
    print("changed: " + (", ".join(changed) if changed else "nothing (already up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
