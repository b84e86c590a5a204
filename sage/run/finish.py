"""Finishing a run: the student exported, the map drawn, its speed beside the teacher's measured
(``sage.run.speed``), metrics.json and the model card written."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sage.imports import imported
from sage.run.files import atomic
from sage.run.model_card import write_model_card
from sage.run.outputs import plot_map, write_metrics
from sage.run.provenance import NUMERICS_VERSION, code_version, folder_fingerprint, package_versions
from sage.run.run import Run
from sage.run.speed import saved_parameters, speed_report
from sage.synthesis.synthesiser import SyntheticSet
from sage.training import predict


@dataclass
class FitResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    output_dir: Path


def finish(run: Run) -> FitResult:
    """Export the student, write the map, time the student against its teacher, and write the
    metrics and the student's model card."""
    spec, task, record, output_dir = run.spec, run.task, run.record, run.folder.path
    with atomic(output_dir / "student") as staging:
        run.teacher.export(run.student, staging, task, spec.task.max_length)
    if record.last_map is not None:
        _plot(run)
    dev_outputs = predict(run.student, run.dev.vectors, run.inference_batch)
    metrics = {
        "task": task.name,
        "evaluated_on": run.evaluated_on,
        **({"label_mapping": run.label_mapping} if run.label_mapping else {}),
        "dev": run.scores(dev_outputs, run.dev.labels),
        "teacher_dev": run.scores(run.dev.teacher, run.dev.labels),
        "agreement": record.history[-1]["agreement"],
        "dev_agreement": run.agreement(dev_outputs, run.dev.teacher),
        "epochs": len(record.history),
        "stopped_by": run.stopped_by,
        "synthetic_epochs": record.synthetic_epochs,
        "synthetic_examples_trained": record.synthetic_examples,
        "real_examples_trained": sum(
            len(run.train.vectors) for row in record.history if spec.schedule.keep_real or row["phase"] != "synthetic"
        ),
        **_transfer_counts(run),
        "gradient_steps": record.steps,
        "train_examples": len(run.train.vectors),
        "dev_examples": len(run.dev.vectors),
        **_parameter_counts("student", saved_parameters(output_dir / "student")),
        **_parameter_counts("teacher", saved_parameters(run.teacher_path)),
        "teacher_path": str(run.teacher_path),
        "teacher_precision": str(run.teacher.dtype).removeprefix("torch."),
        "machine": machine_description(run.device),
        "speed": speed_report(run, machine_description(run.device)),
        "setup_seconds": round(run.setup_seconds, 2),
        "train_seconds": round(sum(row["epoch_s"] for row in record.history), 2),
        # This process's setup, then the record's time past setup over every process of the run.
        "total_seconds": round(run.setup_seconds + run.record.seconds(), 2),
        "imports": imported(),  # the --import targets the spec's own components came from
        "provenance": _provenance(run),
    }
    write_metrics(metrics, output_dir / "metrics.json")
    write_model_card(output_dir / "student", spec, task, metrics)
    run.callbacks.notify("on_fit_end", metrics)
    shutil.rmtree(run.folder.checkpoint, ignore_errors=True)  # the run is exported; resuming has no use
    return FitResult(metrics, record.history, output_dir)


def _transfer_counts(run: Run) -> dict[str, Any]:
    """How many unlabelled transfer rows the teacher labelled, and how many the student trained on
    over the run; nothing for a run without them."""
    if run.transfer is None:
        return {}
    trained = sum(row.get("n_transfer", 0) for row in run.record.history)
    return {"transfer_examples": len(run.transfer), "transfer_examples_trained": trained}


def map_inputs(run: Run, synthetic: SyntheticSet) -> dict[str, np.ndarray]:
    """What map.png needs of a synthetic epoch: small enough for a checkpoint, unlike the set."""
    context = run.synthesiser.context
    if run.synthesiser.map_embedding is not None:
        points = synthetic.points
    elif context.searches_interface:
        points = synthetic.vectors.pooled().cpu().numpy()
    else:  # teacher space: the new points have no place in it until the teacher reads them
        points = np.empty((0, context.space.shape[1]), dtype=np.float32)
    return {"scores": synthetic.scores, "hard": synthetic.hard, "points": points}


def _plot(run: Run) -> None:
    """The map of the last synthetic epoch, coloured by the scores that chose its hard set."""
    spec, drawn = run.spec, run.record.last_map
    embedding = run.synthesiser.map_embedding
    where = f"{spec.projector.name} projection" if embedding is not None else f"{spec.synthesis.space} space"
    with atomic(run.folder.path / "map.png") as staging:
        plot_map(
            run.synthesiser.context.space if embedding is None else embedding,
            drawn["scores"],
            drawn["hard"],
            drawn["points"],
            staging,
            f"{run.task.name}: {spec.synthesis.name}, {where}, epoch {run.record.history[-1]['epoch']}",
            f"{spec.schedule.rank_by} (ranks the hard set)",
        )


def _provenance(run: Run) -> dict[str, Any]:
    """Everything outside the spec that decided the numbers: data, teacher, code and libraries."""
    return {
        "train_rows": run.data_fingerprints["train"],
        f"{'holdout' if run.spec.task.holdout else 'dev'}_rows": run.data_fingerprints["dev"],
        "teacher": folder_fingerprint(run.teacher_path),
        "numerics_version": NUMERICS_VERSION,
        "versions": package_versions(),
        "commit": code_version(),
    }


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    # torch's vector kernels (AVX2, AVX512, ...) name the CPU kind: two machines of one model name
    # can differ there, and then so do their numbers in the last bits (and a fine-tuned teacher's weights).
    capability = torch.backends.cpu.get_cpu_capability()
    return f"CPU {cpu_model()} ({platform.machine()}, {capability}), {torch.get_num_threads()} threads"


def cpu_model() -> str:
    """The processor's name, so that rows from two machines of the same architecture can be told apart."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or "unknown model"


def _parameter_counts(model: str, counts: dict[str, int]) -> dict[str, int]:
    """The whole count, and the count without the embedding layer (which the distilled blocks
    never train: the student reads the teacher's interface vectors)."""
    return {
        f"{model}_parameters": sum(counts.values()),
        f"{model}_parameters_without_embeddings": sum(n for name, n in counts.items() if ".embeddings." not in f".{name}"),
    }
