"""Tiny notebooks for runner tests: a parameters cell and one code cell."""

import nbformat


def write_tiny_notebook(path, body, parameters="run_dir = None\nvalue = 1\nprofile = 'smoke'\nseed = 0"):
    """Write a notebook with a papermill ``parameters`` cell and one cell running ``body``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
