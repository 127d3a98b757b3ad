"""Strip outputs and execution counts from the notebooks in notebooks/ (they are committed clean).

    python tools/strip_outputs.py           # rewrite in place
    python tools/strip_outputs.py --check   # exit 1 if any notebook has outputs
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    dirty = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                cell.outputs, cell.execution_count, changed = [], None, True
            if "papermill" in cell.metadata or "execution" in cell.metadata:
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
                changed = True
        if changed:
            dirty.append(path.name)
            if not check:
                nbformat.write(nb, str(path))
    if check and dirty:
        print("notebooks with outputs (run `make strip`): " + ", ".join(dirty))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
