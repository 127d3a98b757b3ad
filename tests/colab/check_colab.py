"""The Colab-like check (`make test-colab`): the notebooks as a student runs them, in Colab's environment.

    .venv/bin/python tests/colab/check_colab.py [--out DIR] [--only 00,01]

1. **Colab's environment.** A virtual environment with the versions Colab preinstalls
   (``tests/colab/colab-versions.txt``: TensorFlow 2.19, Keras 3.10, NumPy 2.0, scikit-learn 1.6,
   imbalanced-learn 0.13, ipykernel 6.17, ...) is built once and cached in
   ``${XDG_CACHE_HOME:-~/.cache}/dl-course/colab-venv-<hash of that file>``; each check works on a
   fresh copy of it, so the cached one stays as Colab has it.
2. **The setup cell's install.** The copy's Python runs ``helpers.colab.install(REPO)``, the call of
   every notebook's setup cell. ``pip freeze`` before and after and their difference are written to
   the output folder; the check fails if TensorFlow, Keras, NumPy, ipykernel (or any package of
   ``helpers.colab.PROTECTED``) changed version. Every ``helpers`` module must then import there.
3. **The student's order.** Every notebook is executed alone, in numbering order, by papermill on a
   kernel of that environment (Colab's ipykernel 6.17; papermill itself runs from the project's
   .venv, as Colab's front end is not the kernel), with only ``profile="smoke"`` injected: no
   ``run_dir``, runs and data in one folder standing for Google Drive.
4. **What the student gets.** One run holds every notebook, completed; 04 compared all four
   variants; 09's report has every track (tabular, transfer learning with Grad-CAM, CNN
   architectures, imbalanced training) and none is "not run"; no cell output shows TensorFlow's
   C++ log lines, a TqdmWarning or an echoed PosixPath.

Exit status 0 when every check passes; otherwise the failed checks are listed, each naming the
notebook or file involved.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "tests" / "colab" / "colab-versions.txt"
NOISE = ("E0000", "cuInit", "TqdmWarning", "IProgress", "PosixPath(", "absl::InitializeLog")
TRACKS = ("tabular", "images", "cnn_architecture", "imbalanced")
KERNEL = "colab-like"

sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(message, flush=True)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(VERSIONS.read_bytes()).hexdigest()[:12]
    return base / "dl-course" / f"colab-venv-{digest}"


def freeze(python: Path) -> list[str]:
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line and not line.startswith("#"))


def pins() -> dict[str, str]:
    out = {}
    for line in VERSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[name.lower().replace("_", "-")] = version
    return out


def frozen_versions(lines: list[str]) -> dict[str, str]:
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines if "==" in line}


def ensure_base() -> Path:
    """The cached Colab-like environment, built when missing or broken; returns its folder."""
    base = cache_dir()
    python = base / "bin" / "python"
    if (base / "base-freeze.txt").is_file() and python.exists():
        check = subprocess.run([str(python), "-c", "import tensorflow, keras, ipykernel, sklearn"],
                               capture_output=True, text=True)
        if check.returncode == 0:
            log(f"Colab-like environment: cached at {base}")
            return base
        log(f"Colab-like environment at {base} is broken ({check.stderr.strip()[-200:]}); rebuilding")
    shutil.rmtree(base, ignore_errors=True)
    base.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    building = base.with_name(base.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for args in (["--upgrade", "pip"], ["-r", str(VERSIONS)]):
        done = subprocess.run([*pip, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"building the Colab-like environment failed ({' '.join(args)}):\n{done.stderr[-3000:]}")
    building.rename(base)  # venvs hold absolute paths: rebuild scripts' shebangs are not used (python -m)
    lines = freeze(base / "bin" / "python")
    wrong = {k: v for k, v in pins().items() if frozen_versions(lines).get(k) != v}
    if wrong:
        raise SystemExit(f"the Colab-like environment does not hold the pinned versions: {wrong}")
    (base / "base-freeze.txt").write_text("\n".join(lines) + "\n")
    log(f"Colab-like environment: built in {time.time() - started:.0f} s at {base}")
    return base


def install_like_the_setup_cell(python: Path, out: Path) -> list[str]:
    """Run the setup cell's install in the copy; write freezes and diff; return failures."""
    before = freeze(python)
    started = time.time()
    done = subprocess.run([str(python), "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from helpers import colab; colab.install(sys.argv[1])", str(ROOT)],
                          capture_output=True, text=True)
    seconds = time.time() - started
    after = freeze(python)
    (out / "pip-freeze-before.txt").write_text("\n".join(before) + "\n")
    (out / "pip-freeze-after.txt").write_text("\n".join(after) + "\n")
    diff = [line for line in difflib.unified_diff(before, after, "before", "after", lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    (out / "pip-freeze-diff.txt").write_text("\n".join(diff) + "\n")
    log(f"setup cell's install: {seconds:.0f} s; it printed: {done.stdout.strip()}")
    for line in diff:
        log(f"    {line}")
    failures = []
    if done.returncode != 0:
        failures.append(f"the setup cell's install failed: {done.stderr.strip()[-1500:]}")
    from helpers.colab import PROTECTED

    old, new = frozen_versions(before), frozen_versions(after)
    for name in PROTECTED:
        if name in old and old[name] != new.get(name):
            failures.append(f"the install changed {name} {old[name]} -> {new.get(name)} (Colab's runtime)")
    return failures


def helpers_import(python: Path, out: Path) -> list[str]:
    """Import every module of ``helpers`` in the Colab-like environment; return the failures."""
    code = ("import importlib, pkgutil, helpers\n"
            "bad = []\n"
            "for m in pkgutil.iter_modules(helpers.__path__):\n"
            "    try:\n"
            "        importlib.import_module('helpers.' + m.name)\n"
            "    except Exception as err:\n"
            "        bad.append(f'helpers.{m.name}: {type(err).__name__}: {err}')\n"
            "print('\\n'.join(bad))\n")
    # from outside the repository: `import helpers` goes through the editable install, as in a new kernel
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=str(out))
    if done.returncode != 0:
        return [f"importing helpers failed: {done.stderr.strip()[-1500:]}"]
    return [f"does not import in Colab's environment: {line}" for line in done.stdout.splitlines() if line]


def execute_in_order(python: Path, out: Path, drive: Path, only: list[str] | None) -> tuple[list[str], dict]:
    """papermill every notebook alone, in order, on the Colab-like kernel; return failures and times."""
    jupyter = out / "jupyter"
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(jupyter), "--name", KERNEL],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "DL_RUNS_DIR", "DL_DATA_DIR",
                                                            "MPLBACKEND", "PYTHONPATH")}
    env.update(JUPYTER_PATH=str(jupyter / "share" / "jupyter"), DL_RUNS_DIR=str(drive / "runs"),
               DL_DATA_DIR=str(drive / "data"))
    times, failures = {}, []
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in notebooks:
        if only and path.stem.split("_")[0] not in only:
            continue
        target = out / "notebooks" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable,
                               "-m", "papermill", str(path), str(target), "-k", KERNEL, "-p", "profile", "smoke",
                               "--cwd", str(ROOT / "notebooks"), "--log-level", "ERROR", "--no-progress-bar"],
                              env=env, capture_output=True, text=True)
        times[path.stem] = time.time() - started
        if done.returncode != 0:
            failures.append(f"{path.stem} failed when run alone with its defaults: {done.stderr.strip()[-2500:]}")
            log(f"  {path.stem}: FAILED after {times[path.stem]:.0f} s")
            break
        log(f"  {path.stem}: {times[path.stem]:.0f} s")
        for i, cell in enumerate(json.loads(target.read_text())["cells"]):
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", "")) + json.dumps(output.get("data", {}))
                for word in NOISE:
                    if word in text:
                        line = next((s for s in text.splitlines() if word in s), "")[:160]
                        failures.append(f"{path.stem} cell {i} shows {word!r}: {line}")
    return failures, times


def check_run(drive: Path, only: list[str] | None) -> list[str]:
    """One run, every notebook completed, 04 compared all variants, 09 reports every track."""
    from helpers import report, runs

    failures = []
    folders = [p for p in (drive / "runs").iterdir() if (p / "manifest.json").is_file()]
    if len(folders) != 1:
        return [f"expected one run on the simulated Drive, found {len(folders)}: {[p.name for p in folders]}"]
    run = runs.Run(folders[0])
    notebooks = run.manifest.get("notebooks", {})
    expected = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                if not only or p.stem.split("_")[0] in only]
    for name in expected:
        status = notebooks.get(name, {}).get("status")
        if status != "completed":
            failures.append(f"{name}: manifest status {status!r} in {run.path} (expected 'completed')")
    if not only or "04" in only:
        scores = run.path / "tabular" / "synthesis" / "variant_scores.csv"
        import pandas as pd

        variants = set(pd.read_csv(scores)["variant"]) if scores.is_file() else set()
        if variants != {"original", "up", "down", "updown"}:
            failures.append(f"04 compared the variants {sorted(variants)} ({scores}), not all four")
    if not only or "09" in only:
        rep = report.build_report(run)
        status = {s.key: s.status for s in rep.sections}
        for key in TRACKS:
            if status.get(key) != "ok":
                failures.append(f"09's report: track {key!r} is {status.get(key, 'missing')!r}")
        md = run.path / "report" / "report.md"
        text = md.read_text() if md.is_file() else ""
        if not text:
            failures.append(f"09 wrote no {md}")
        elif "Grad-CAM" not in text:
            failures.append(f"09's report ({md}) does not mention Grad-CAM (notebook 06)")
        for line in text.splitlines():
            if "not run" in line.lower():
                failures.append(f"09's report says {line.strip()[:160]!r} ({md})")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the freezes and executed notebooks "
                        "(default: a new temporary folder)")
    parser.add_argument("--only", default=None, help="notebook numbers, e.g. 00,01 (default: all)")
    args = parser.parse_args(argv)
    only = [n.strip().zfill(2) for n in args.only.split(",")] if args.only else None
    out = Path(args.out or tempfile.mkdtemp(prefix="colab-check-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    steps: dict[str, float] = {}

    def step(name: str, since: float) -> float:
        steps[name] = time.time() - since
        return time.time()

    base = ensure_base()
    mark = step("Colab-like environment (build or reuse)", started)
    work = out / "colab-venv"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["cp", "-a", str(base), str(work)], check=True)
    python = work / "bin" / "python"
    failures = []
    if freeze(python) != (base / "base-freeze.txt").read_text().split():
        failures.append(f"the copy of the Colab-like environment differs from {base / 'base-freeze.txt'}")
    mark = step("copy of it", mark)
    failures += install_like_the_setup_cell(python, out)
    mark = step("setup cell's install", mark)
    failures += helpers_import(python, out)
    mark = step("import every helpers module", mark)
    times: dict[str, float] = {}
    if not failures:
        drive = out / "MyDrive"  # stands for Google Drive: empty, as for a student's first notebook
        shutil.rmtree(drive, ignore_errors=True)
        log("notebooks, one after another as a student runs them (profile smoke, no run_dir):")
        failed, times = execute_in_order(python, out, drive, only)
        failures += failed
        mark = step(f"{len(times)} notebooks", mark)
        if not failed:
            failures += check_run(drive, only)
            mark = step("run and report checks", mark)
    shutil.rmtree(work, ignore_errors=True)
    log("\ntimes:")
    for name, seconds in steps.items():
        log(f"  {name:<42} {seconds:6.0f} s")
    for name, seconds in times.items():
        log(f"    {name:<40} {seconds:6.0f} s")
    log(f"  {'total':<42} {time.time() - started:6.0f} s; freezes, diff and executed notebooks in {out}")
    if failures:
        log(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            log(f"- {f}")
        return 1
    log("every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
