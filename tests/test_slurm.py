"""`fluidloss study submit | status | cancel` on a real Slurm cluster (`.ci/slurm.sh` starts a single-node one; CI
runs it first): the submitted smoke study writes the report of `study run`, a cancelled study resubmitted finishes
to the same report, and a training job stopped by the scheduler (the time limit's USR1, a preemption's requeue, a
SIGTERM and a requeue by hand) continues from its checkpoint to the result of an uninterrupted run.

They queue real jobs, so they run only when asked: `FLUIDLOSS_TEST_SLURM=1 python -m pytest tests/test_slurm.py`
(`.ci/run` sets it). Unset, they skip; set, a cluster must answer or they fail. A login node with `sbatch` on the path
thus never gets test jobs from a plain `python -m pytest`."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studies import RESUMED, SMOKE, TINY, results, study, value_tables

WAIT_S = 900
EPOCHS = 60
LONGER = RESUMED.replace("epochs = 3", f"epochs = {EPOCHS}")
"""A SOL training of some 30 seconds on a busy machine and a few on an idle one: long enough to be stopped three
times when each stop follows the epoch it waits for closely (PROGRESS_POLL_S)."""
PROGRESS_POLL_S = 0.05
"""How often the test looks for a training epoch before it stops the job: an idle machine trains this toy network in
a fraction of a second per epoch, so a coarser poll lets the training finish before the third stop."""


OPT_IN = "FLUIDLOSS_TEST_SLURM"
"""The environment variable that asks for the tests that submit jobs (`1`); anything else, or unset, skips them."""


def answering() -> bool:
    """Whether a Slurm cluster answers here: `sbatch` on the path and `sinfo` reporting a partition up."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return done.stdout.strip().startswith("up")


def require_cluster() -> None:
    """Skip unless asked for (FLUIDLOSS_TEST_SLURM=1); asked for, fail unless a cluster answers. Never queues a job
    where nobody asked: a login node has `sbatch` and an answering `sinfo` too."""
    if os.environ.get(OPT_IN) != "1":
        pytest.skip(f"the Slurm tests submit real jobs: set {OPT_IN}=1 to run them "
                    "(.ci/slurm.sh starts a single-node cluster as root)")
    if not answering():
        pytest.fail(f"{OPT_IN}=1 asks for the Slurm tests, but no cluster answers (sbatch on the path, sinfo 'up'): "
                    "start one with .ci/slurm.sh")


@pytest.fixture(scope="module")
def cluster() -> None:
    """A Slurm cluster that answers when the tests are asked for; a skip when not asked, a failure when asked and
    none answers."""
    require_cluster()


@pytest.fixture
def studies() -> Iterator[list[Path]]:
    """Study folders whose jobs are cancelled after the test, passed or failed: no job outlives its test."""
    folders: list[Path] = []
    yield folders
    for out in folders:
        if (out / "jobs.json").exists():
            record = jobs(out)
            ids = [j["id"] for j in record["jobs"].values()] + [record.get("report", "")]
            subprocess.run(["scancel", *filter(None, ids)], capture_output=True)


def state(job: str) -> str:
    done = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%T", "-j", job], capture_output=True, text=True)
    return done.stdout.strip()


def wait_for(what, message: str, timeout: float = WAIT_S, every: float = 1.0):
    """Poll `what` every `every` seconds until it is true (returned) or `timeout` passes (a failure with `message`)."""
    deadline = time.time() + timeout
    while not (found := what()):
        assert time.time() < deadline, message
        time.sleep(every)
    return found


def jobs(out: Path) -> dict:
    return json.loads((out / "jobs.json").read_text())


def wait_for_report(out: Path) -> None:
    report = jobs(out)["report"]
    wait_for(lambda: state(report) in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"), f"report job {report} waits")
    assert state(report) == "COMPLETED", (out / "slurm").glob("report.*.out")


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_submitted_smoke_study_writes_the_report_of_study_run(cluster, env, tmp_path, studies):  # noqa: F811
    out, local = tmp_path / "slurm", tmp_path / "local"
    studies.append(out)
    submitted = study(env, "submit", SMOKE, "--out", out, "--cpus-per-task", "1")
    assert re.search(r"\d+ job\(s\) submitted, the report as job \d+", submitted.stderr)
    listed = study(env, "status", out).stderr
    assert re.search(r"│ (queued|running) +│ \d+ +│", listed), listed
    study(env, "run", SMOKE, "--out", local, "--workers", "2")  # meanwhile, the same study here
    wait_for_report(out)
    assert value_tables(out) == value_tables(local)
    assert {c: r["status"] for c, r in results(out).items()} == {c: r["status"] for c, r in results(local).items()}
    finished = study(env, "status", out, "--all").stderr
    assert "skipped" in finished and re.search(r"\d+ done, \d+ skipped", finished), finished
    again = study(env, "submit", SMOKE, "--out", out).stderr
    assert "0 job(s) submitted" in again


@pytest.mark.slow
def test_a_cancelled_study_resubmitted_finishes_to_the_same_report(cluster, env, tmp_path, studies):  # noqa: F811
    whole, out = tmp_path / "whole", tmp_path / "cancelled"
    studies.append(out)
    tiny = config(tmp_path, TINY)
    study(env, "submit", tiny, "--out", out, "--sbatch-arg=--hold")  # held: the data job cannot end before its cancel
    record = jobs(out)
    data_job = next(j["id"] for j in record["jobs"].values() if "data/karman/train-fine" in j["cells"])
    subprocess.run(["scancel", data_job], check=True)  # a data job: the model jobs after it can never start
    others = [j["id"] for j in record["jobs"].values() if j["id"] != data_job] + [record["report"]]
    subprocess.run(["scontrol", "release", ",".join(others)], check=True)
    blocked = wait_for(lambda: (text := study(env, "status", out).stderr).count("│ blocked ") >= 4 and text,
                       "the jobs after a cancelled one are not blocked", 120)
    assert re.search(rf"│ cancelled +│ {data_job} ", blocked), blocked
    cancelled = study(env, "cancel", out).stderr
    ids = re.search(r"cancelled (\d+) job\(s\)", cancelled)
    assert ids and int(ids.group(1)) >= 5, cancelled  # the blocked model jobs and the report
    wait_for(lambda: not subprocess.run(["squeue", "-h", "-j", ",".join(j["id"] for j in jobs(out)["jobs"].values())],
                                        capture_output=True, text=True).stdout.strip(), "jobs still run")
    listed = study(env, "status", out).stderr
    assert "cancelled" in listed and "running" not in listed and "queued" not in listed, listed
    assert not list((out / "locks").glob("*.lock")), "a cancelled job left its lock"
    resubmitted = study(env, "submit", tiny, "--out", out).stderr
    assert re.search(r"^[1-9]\d* job\(s\) submitted", resubmitted, re.MULTILINE), resubmitted
    study(env, "run", tiny, "--out", whole, "--workers", "2")
    wait_for_report(out)
    assert value_tables(out) == value_tables(whole)


@pytest.mark.slow
def test_a_training_job_stopped_by_the_scheduler_continues_to_the_uninterrupted_result(cluster, env,  # noqa: F811
                                                                                        tmp_path, studies):
    whole, out = tmp_path / "whole", tmp_path / "stopped"
    studies.append(out)
    resumed = config(tmp_path, LONGER)
    study(env, "submit", resumed, "--out", out)
    cell = out / "cells" / "train" / "sol" / "karman" / "mse" / "seed0"
    job = jobs(out)["jobs"]["train/sol/karman/mse/seed0"]["id"]
    metrics = cell / "run" / "metrics.jsonl"

    def epochs() -> int:
        return len(metrics.read_text().splitlines()) if metrics.exists() else 0

    def output() -> str:
        return "".join(p.read_text() for p in (out / "slurm").glob("train.sol.*.out"))

    def stopped_cleanly() -> None:
        assert not (cell / "result.json").exists() and not list((out / "locks").glob("*.lock")), "not a clean stop"

    def continues() -> None:
        done = epochs()
        wait_for(lambda: epochs() > done and state(job) == "RUNNING", "the job did not continue", 300,
                 every=PROGRESS_POLL_S)

    wait_for(lambda: epochs() >= 1 and (cell / "run" / "last.pt").exists(), "the training never finished an epoch",
             every=PROGRESS_POLL_S)
    # the time limit's warning: the job requeues itself
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True)
    wait_for(lambda: "stopped by SIGUSR1" in output(), "the job did not stop", 60)
    stopped_cleanly()
    continues()
    # a preemption: SIGTERM, and the scheduler puts the job back in the queue
    subprocess.run(["scontrol", "requeue", job], check=True)
    wait_for(lambda: "stopped by SIGTERM" in output(), "the job did not stop", 60)
    continues()
    # SIGTERM alone ends the job as failed; requeued by hand, it continues, and a new submission writes the report
    subprocess.run(["scancel", "--signal=TERM", "--full", job], check=True)
    wait_for(lambda: state(job) == "FAILED", "the stopped job did not end", 60)
    stopped_cleanly()
    subprocess.run(["scontrol", "requeue", job], check=True)
    study(env, "run", resumed, "--out", whole, "--workers", "2")  # meanwhile, uninterrupted, one thread as the job
    wait_for(lambda: state(job) == "COMPLETED", "the requeued job did not finish", 300)
    assert "0 job(s) submitted" in study(env, "submit", resumed, "--out", out).stderr
    wait_for_report(out)
    assert output().count("stopped by SIGTERM") == 2, output()[-3000:]
    log = (cell / "log.txt").read_text()
    assert "resuming after epoch" in log
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    reference = [json.loads(line) for line in (whole / metrics.relative_to(out)).read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, EPOCHS + 1))
    assert [r["val_loss"] for r in lines] == [r["val_loss"] for r in reference]
    assert value_tables(out) == value_tables(whole)


def test_a_lock_of_a_job_the_scheduler_no_longer_runs_is_taken_over(cluster, tmp_path, monkeypatch):
    from fluidloss_cli.engine.study import slurm
    from fluidloss_cli.engine.study.cell_lock import CellLock, cell_lock_path

    monkeypatch.setattr(slurm, "STATE_TTL_S", 0.0)

    job = subprocess.run(["sbatch", "--parsable", "--cpus-per-task=1", "-o", "/dev/null", "--wrap", "sleep 300"],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        path = cell_lock_path(tmp_path, "train/x")
        path.parent.mkdir()
        path.write_text(json.dumps({"host": "another-node", "pid": 1, "job": job}))
        wait_for(lambda: state(job) == "RUNNING", "the sleep job never ran", 120)
        assert not CellLock(tmp_path, "train/x").acquire()
    finally:
        subprocess.run(["scancel", job], check=True)
    wait_for(lambda: state(job) not in ("RUNNING", "COMPLETING"), "the sleep job did not end", 60)
    assert CellLock(tmp_path, "train/x").acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_dry_run_prints_the_scripts_and_dependencies_and_submits_nothing(env, tmp_path):  # noqa: F811
    text = TINY + '[slurm]\npartition = "gpu"\ntime = "2:00:00"\nsbatch_args = ["--account=abc"]\n'
    out = tmp_path / "dry"
    done = study(env, "submit", config(tmp_path, text), "--out", out, "--dry-run", "--mem", "4G")
    assert not out.exists()
    scripts = done.stdout.split("# job <")[1:]
    names = [s.split(">", 1)[0] for s in scripts]
    assert names[:2] == ["data/karman/train", "data/karman/test"] and names[-1] == "report"
    model = scripts[names.index("train/sr/karman/mse/seed0")]
    assert "--dependency=afterok:<data/karman/test>:<data/karman/train>" in model
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=2:00:00", "#SBATCH --mem=4G", "#SBATCH --account=abc",
                 "#SBATCH --requeue", "#SBATCH --signal=B:USR1@120", "#SBATCH --cpus-per-task=1"):
        assert line in model
    assert "--gpus-per-task" not in model  # a study on the CPU asks for no GPU
    assert f"exec {sys.executable} -m fluidloss_cli study cells" in model
    assert "--dependency=afterany:" in scripts[-1] and "study report" in scripts[-1]


def fake_slurm(folder: Path, sinfo_says: str) -> str:
    """A PATH holding `sbatch` (which records any call) and `sinfo` (which prints `sinfo_says`): a login node."""
    folder.mkdir()
    (folder / "sbatch").write_text(f"#!/bin/sh\ntouch {folder / 'submitted'}\n")
    (folder / "sinfo").write_text(f"#!/bin/sh\necho {sinfo_says}\n")
    for name in ("sbatch", "sinfo"):
        (folder / name).chmod(0o755)
    return str(folder)


def test_without_the_opt_in_a_login_node_gets_a_skip_that_says_how_to_run_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_slurm(tmp_path / "bin", "up"))
    for value in (None, "", "0"):
        if value is None:
            monkeypatch.delenv(OPT_IN, raising=False)
        else:
            monkeypatch.setenv(OPT_IN, value)
        with pytest.raises(pytest.skip.Exception, match=f"set {OPT_IN}=1 to run them"):
            require_cluster()
    assert not (tmp_path / "bin" / "submitted").exists()


@pytest.mark.parametrize("sinfo_says", ["down", None])
def test_asked_for_without_a_cluster_they_fail_rather_than_skip(tmp_path, monkeypatch, sinfo_says):
    monkeypatch.setenv(OPT_IN, "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", fake_slurm(tmp_path / "bin", sinfo_says) if sinfo_says else str(empty))
    with pytest.raises(pytest.fail.Exception, match="no cluster answers"):
        require_cluster()


def test_asked_for_with_a_cluster_that_answers_they_run(tmp_path, monkeypatch):
    monkeypatch.setenv(OPT_IN, "1")
    monkeypatch.setenv("PATH", fake_slurm(tmp_path / "bin", "up"))
    require_cluster()  # neither a skip nor a failure
