"""The one setup call every notebook makes after its ``parameters`` cell.

```python
P, run = lesson.start("03_gridsearch", globals())
```
reads the notebook's parameter variables (papermill's injected values included), fills every
``None`` from the profile (:mod:`helpers.profiles`), opens the run the notebook writes into
(:func:`helpers.runs.open_run`: the profile's current run unless ``run_dir`` says otherwise), seeds
Python, NumPy and TensorFlow, sets the mixed-precision policy where the notebook has one, and prints
the versions, devices and run folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpers import env, profiles, runs

__all__ = ["parameters_from", "start"]


def parameters_from(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of ``namespace`` that are parameters of ``notebook`` (``profile`` included)."""
    known = set(profiles.defaults(profiles.check_notebook(notebook), profiles.PROFILES[0]))
    return {name: namespace[name] for name in sorted(known) if name in namespace}


def start(notebook: str, namespace: Mapping[str, Any], *, show: bool = True) -> tuple[dict, runs.Run]:
    """Resolve ``notebook``'s parameters from its variables, open its run and seed everything.

    Parameters
    ----------
    notebook : str
        The notebook's key, e.g. ``"03_gridsearch"``.
    namespace : mapping
        The notebook's ``globals()``: its ``parameters`` cell (``profile``, ``seed``, ``run_dir``...).
    show : bool
        Print versions, devices and the run folder.

    Returns
    -------
    (dict, helpers.runs.Run)
        The resolved parameters ``P`` and the run.
    """
    given = parameters_from(notebook, namespace)
    profile = given.pop("profile", None) or "demo"
    P = profiles.resolve(notebook, profile, **given)
    run = runs.open_run(P["run_dir"], notebook=notebook, parameters=P)
    env.seed_everything(P["seed"])
    if "mixed_precision" in P:
        env.set_mixed_precision(P["mixed_precision"])
    if show:
        env.describe()
        print("run directory:", run.path)
    return P, run
