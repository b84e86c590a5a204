"""Two processes, one run: torchrun and ``accelerate launch`` with the gloo backend on a tiny SST-2 spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tiny import fast_spec

pytestmark = pytest.mark.slow

# Runs `sage run SPEC` through the CLI on every rank, recording per rank and epoch a hash of the
# student's weights and of the synthetic set it trained on, and every write of metrics.json.
RECORDING_RUN = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    import sage.engine, sage.run.finish
    from sage import cli

    rank, log = os.environ["RANK"], sys.argv[2]

    def digest(*tensors):
        hashed = hashlib.sha256()
        for tensor in tensors:
            hashed.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return hashed.hexdigest()

    def note(**fields):
        with open(log, "a") as handle:
            handle.write(json.dumps({"rank": rank, **fields}) + "\\n")

    real_synthesise, real_record, real_write = (
        sage.engine.Distiller._synthesise, sage.engine.Distiller._record, sage.run.finish.write_metrics
    )

    def synthesise(self, run, epoch):
        synthetic = real_synthesise(self, run, epoch)
        if synthetic is not None:
            note(epoch=epoch, synthetic=digest(synthetic.vectors.tokens, synthetic.teacher, torch.as_tensor(synthetic.parents)))
        return synthetic

    def record(self, run, row):
        real_record(self, run, row)
        note(epoch=row["epoch"], weights=digest(*run.student.state_dict().values()), steps=row["steps"])

    def write_metrics(metrics, path):
        note(metrics=str(path))
        real_write(metrics, path)

    sage.engine.Distiller._synthesise, sage.engine.Distiller._record = synthesise, record
    sage.run.finish.write_metrics = write_metrics
    sys.exit(cli.main(["run", sys.argv[1]]))
    """
)


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
    # --multi_gpu is accelerate's torchrun launcher; on a machine without GPUs the spec's device
    # (cpu) makes the ranks join with gloo. (Its --cpu launcher starts one process, without MPI.)
    "accelerate": [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
    ],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_gloo_processes_train_one_student_and_write_one_result(tmp_path, launcher):
    spec = fast_spec(tmp_path / "run", synthesis={"name": "mixup"})
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "recording_run.py").write_text(RECORDING_RUN)
    log = tmp_path / "log.jsonl"
    environment = os.environ | {"OMP_NUM_THREADS": "1"}  # two processes on two cores
    launched = subprocess.run(
        [sys.executable, *LAUNCHERS[launcher], str(tmp_path / "recording_run.py"), str(tmp_path / "spec.yaml"), str(log)],
        capture_output=True, text=True, env=environment, timeout=900,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    epochs = spec["schedule"]["max_epochs"]
    for key in ("weights", "synthetic"):
        by_rank = {rank: [e[key] for e in events if key in e and e["rank"] == rank] for rank in ("0", "1")}
        expected = epochs if key == "weights" else epochs - 1  # one synthetic set per epoch after the warm-up
        assert len(by_rank["0"]) == expected and by_rank["0"] == by_rank["1"], key
    assert len(set(e["weights"] for e in events if "weights" in e and e["rank"] == "0")) == epochs  # it trained
    # Each rank took its half of every epoch's batches: 200 real examples in batches of 32 is 7, so 3 each.
    assert [e["steps"] for e in events if "steps" in e and e["rank"] == "0"][0] == 3
    assert [e for e in events if "metrics" in e] == [{"rank": "0", "metrics": str(tmp_path / "run" / "metrics.json")}]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == epochs and (tmp_path / "run" / "student" / "model.safetensors").exists()
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "finished"
    assert launched.stdout.count('"output_dir"') == 1  # the result is printed once


def test_the_process_group_waits_as_long_as_rank_0s_longest_work(monkeypatch):
    """Rank 0 alone fine-tunes, fits and synthesises while the others wait at a collective: the
    group is joined with a timeout that fits that work, not torch's 10 or 30 minutes."""
    import datetime

    import torch
    import torch.distributed as dist

    from sage.distributed import Cluster
    from sage.errors import InputError

    joined = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **options: joined.update(backend=backend, **options))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    cluster = Cluster.from_environment(torch.device("cpu"))
    assert cluster.rank == 1 and joined == {"backend": "gloo", "timeout": datetime.timedelta(hours=6)}
    monkeypatch.setenv("SAGE_DISTRIBUTED_TIMEOUT", "90")
    Cluster.from_environment(torch.device("cpu"))
    assert joined["timeout"] == datetime.timedelta(seconds=90)
    monkeypatch.setenv("SAGE_DISTRIBUTED_TIMEOUT", "soon")
    with pytest.raises(InputError, match="SAGE_DISTRIBUTED_TIMEOUT must be a number of seconds"):
        Cluster.from_environment(torch.device("cpu"))
