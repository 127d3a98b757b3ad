"""The one setup call every notebook makes after its ``parameters`` cell: ``P, run = lesson.start("03_gridsearch",
globals())`` resolves the parameters from the profile, opens the run, seeds everything and prints the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpers import env, profiles, runs

__all__ = ["parameters_from", "start"]


def parameters_from(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of ``namespace`` that are parameters of ``notebook`` (``profile`` included)."""
    known = profiles.defaults(profiles.check_notebook(notebook), profiles.PROFILES[0])
    return {name: namespace[name] for name in sorted(known) if name in namespace}


def start(notebook: str, namespace: Mapping[str, Any], *, show: bool = True) -> tuple[dict, runs.Run]:
    """Resolve ``notebook``'s parameters from its ``globals()`` (``None`` = the profile's value), open its run
    (:func:`helpers.runs.open_run`), seed Python/NumPy/TensorFlow, set mixed precision where the notebook has it
    and, with ``show``, print versions, devices and the run folder. Returns ``(P, run)``.
    """
    given = parameters_from(notebook, namespace)
    P = profiles.resolve(notebook, given.pop("profile", None) or "demo", **given)
    run = runs.open_run(P["run_dir"], notebook=notebook, parameters=P)
    env.seed_everything(P["seed"])
    if "mixed_precision" in P:
        env.set_mixed_precision(P["mixed_precision"])
    if show:
        env.describe()
        print("run directory:", run.path)
    return P, run
