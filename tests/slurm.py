"""A real single-node SLURM on this machine for the cluster test: Debian's slurm-wlm and munge (installed by the test
setup), one node at 127.0.0.1, no accounting database. Every daemon started here is stopped afterwards and
/etc/slurm/slurm.conf is put back as it was. See ../shared/reference/slurm.md for why each setting is what it is.

The SLURM run spends most of its time waiting for the scheduler, so conftest starts `build_slurm_run` in the
background as soon as the session knows test_slurm.py is selected, and the test collects its result; the rest of the
suite runs meanwhile."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_SHARDS, REPO, snakemake, write_config
from system import apt_install, in_ci, unavailable

DATASETS = ["vindr_mammo"]

CONF = Path("/etc/slurm/slurm.conf")  # the jobstep plugin drops $SLURM_CONF inside jobs: it must live here


def _node_line(slurmd: str, host: str) -> str:
    """`slurmd -C`'s node line with NodeAddr 127.0.0.1 and RealMemory a little below what the machine has."""
    line = subprocess.run([slurmd, "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    parts = [p for p in line.split() if not p.startswith(("RealMemory=", "NodeName="))]
    return f"NodeName={host} NodeAddr=127.0.0.1 {' '.join(parts)} RealMemory={int(memory * 0.9)}"


def _config(state: Path, munge_socket: Path, host: str, node: str) -> str:
    return "\n".join(
        [
            "ClusterName=breastcurate-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=100",
            "MinJobAge=600",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            f"StateSaveLocation={state}/ctld",
            f"SlurmdSpoolDir={state}/spool",
            f"SlurmctldPidFile={state}/slurmctld.pid",
            f"SlurmdPidFile={state}/slurmd.pid",
            f"SlurmctldLogFile={state}/slurmctld.log",
            f"SlurmdLogFile={state}/slurmd.log",
            node,
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _stop(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, ProcessLookupError):
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def single_node_slurm(state: Path):
    """Start munged, slurmctld and slurmd; yield when the node is idle; stop them all and restore slurm.conf."""
    if not in_ci():
        pytest.skip(
            "the SLURM test starts daemons and writes /etc/slurm/slurm.conf: it runs in CI only (CI=true, "
            "as .ci/run sets it)"
        )
    if os.geteuid() != 0:
        unavailable("starting a test SLURM needs root (it writes /etc/slurm/slurm.conf)")
    tools = apt_install(["slurmctld", "slurmd", "slurm-client", "munge"], ["slurmctld", "slurmd", "sinfo", "munged"])
    host = socket.gethostname().split(".")[0]
    munge_dir = state / "munge"
    munge_dir.mkdir(parents=True)
    os.chmod(munge_dir, 0o755)  # munged refuses a socket folder of mode 0700
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    for sub in ("ctld", "spool"):
        (state / sub).mkdir()
    backup = CONF.read_bytes() if CONF.exists() else None
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(_config(state, munge_dir / "munge.socket.2", host, _node_line(tools["slurmd"], host)))
    pids = [munge_dir / "munged.pid", state / "slurmctld.pid", state / "slurmd.pid"]
    try:
        subprocess.run(
            [
                tools["munged"],
                "--force",
                f"--socket={munge_dir}/munge.socket.2",
                f"--key-file={key}",
                f"--pid-file={pids[0]}",
                f"--log-file={munge_dir}/munged.log",
                f"--seed-file={munge_dir}/munged.seed",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run([tools["slurmctld"], "-c"], check=True, capture_output=True)  # -c: no old state
        subprocess.run([tools["slurmd"], "-N", host], check=True, capture_output=True)
        for _ in range(100):
            out = subprocess.run([tools["sinfo"], "-h", "-o", "%t"], capture_output=True, text=True).stdout.strip()
            if out == "idle":
                break
            time.sleep(0.2)
        else:
            unavailable(
                f"the test SLURM node did not come up (sinfo says {out!r}): "
                f"{(state / 'slurmctld.log').read_text()[-500:] if (state / 'slurmctld.log').exists() else ''}"
            )
        yield {"partition": "debug", "host": host}
    finally:
        if shutil.which("scancel"):
            subprocess.run(["scancel", "--user=root"], capture_output=True)
        for pid_file in reversed(pids):
            _stop(pid_file)
        if backup is None:
            CONF.unlink(missing_ok=True)
        else:
            CONF.write_bytes(backup)


def profile_for_this_node(partition: str, folder: Path) -> Path:
    """profiles/slurm, sized down to a 2-core node and told to poll with squeue (there is no slurmdbd here)."""
    config = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    config.update(
        {"jobs": 4, "latency-wait": 5, "slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 2}
    )
    config["default-resources"]["slurm_partition"] = partition
    config["set-threads"] = {rule: min(n, 2) for rule, n in config["set-threads"].items()}
    for resources in config["set-resources"].values():
        resources.update(cpus_per_task=min(resources["cpus_per_task"], 2), mem_mb=min(resources["mem_mb"], 4000))
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def build_slurm_run(root: Path) -> dict:
    """Start a single-node SLURM, run the demo pipeline of DATASETS (2 patients, seed 11, DEMO_SHARDS shards: the
    session's demo run) through the SLURM profile, record the run and SLURM's job table, stop SLURM."""
    with single_node_slurm(root / "state") as cluster:
        profile = profile_for_this_node(cluster["partition"], root / "profile")
        work = root / "run"
        work.mkdir()
        write_config(
            work,
            n_shards=DEMO_SHARDS,
            demo={"patients": 2, "seed": 11},
            datasets={d: {"source": "demo"} for d in DATASETS},
        )
        proc = snakemake(work, "--profile", str(profile), check=False, timeout=1500)
        jobs = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True).stdout.splitlines()
    return {"work": str(work), "returncode": proc.returncode, "log": proc.stdout + proc.stderr, "jobs": jobs}
