"""Run one chapter's graded suite against many targets, fast (a helper of tests/chapters.py, not a test).

Starting pytest costs seconds (torch, the reference modules), running a graded suite about one. So this
process imports the heavy modules once and then forks a fresh child per target, which runs pytest there.
Usage: python -m tests.suite_runner JOB.json, where JOB.json holds {"chapter", "targets": {key: folder},
"workdir", "timeout", optional "extra": more pytest arguments}; it writes workdir/KEY.log, workdir/KEY.json
(the grades) and workdir/results.json.
Up to "parallel" children (default: one per CPU core) run at once, each at one torch thread.
Linux only (fork); tests/chapters.py runs one subprocess per target elsewhere.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(args: list[str], log: Path) -> None:
    import pytest

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 3
    try:
        code = int(pytest.main(args))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait_any(running: dict[int, tuple[str, float]]) -> tuple[str, int]:
    """Wait until one child of `running` ({pid: (key, deadline)}) ends; (its key, its exit code, or -1 after
    killing it at its deadline)."""
    while True:
        for pid, (key, deadline) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del running[pid]
                return key, os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                return key, -1
        time.sleep(0.05)


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    chapter, workdir = job["chapter"], Path(job["workdir"])
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    import pytest  # noqa: F401  (imported once here, inherited by every child)
    import torch
    for path in sorted((ROOT / "solutions" / chapter).glob("*.py")):  # the reference, as the tests use it
        try:
            importlib.import_module(f"solutions.{chapter}.{path.stem}".removesuffix(".__init__"))
        except Exception:  # a module the tests do not need may fail here; pytest will tell
            pass
    parallel = max(1, int(job.get("parallel") or os.cpu_count() or 1))  # one child per core, one thread each
    results: dict[str, int] = {}
    running: dict[int, tuple[str, float]] = {}
    for key, target in job["targets"].items():
        if len(running) >= parallel:
            done_key, code = wait_any(running)
            results[done_key] = code
        log, grades = workdir / f"{key}.log", workdir / f"{key}.json"
        args = [chapter, "--target", target, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                "--grades-json", str(grades), "--basetemp", str(workdir / f"{key}.tmp"), *job.get("extra", [])]
        pid = os.fork()
        if pid == 0:
            torch.set_num_threads(1)
            run_child(args, log)
        running[pid] = (key, time.monotonic() + job["timeout"])
    while running:
        done_key, code = wait_any(running)
        results[done_key] = code
    results = {key: results[key] for key in job["targets"]}  # in the job's order
    (workdir / "results.json").write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
