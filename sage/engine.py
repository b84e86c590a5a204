"""The distillation engine: the loop of DESIGN.md, for SAGE and every baseline it can express.

``Distiller.fit`` reads as the data flow: check every input, take the output folder, set the run
up (the teacher's interface cached once), then epochs of synthesis, training and evaluation, each
ending in a checkpoint, and finally the export. Setting up and finishing live in ``sage.run``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from sage.callbacks import FitStart
from sage.distributed import Cluster
from sage.errors import InputError
from sage.run import checkpoint
from sage.run.finish import FitResult, finish, map_inputs
from sage.run.folder import RunFolder
from sage.run.run import Run
from sage.run.setup import check_inputs, resolve_device, start
from sage.spec import SageSpec
from sage.synthesis.synthesiser import SyntheticSet
from sage.training import TrainingSource, predict, train_epoch


class Distiller:
    """Runs one spec: ``Distiller(spec).fit()``. Build it with ``sage.build``."""

    def __init__(self, spec: SageSpec, progress: bool = True) -> None:
        self.spec = spec
        self.progress = progress

    def fit(self, resume: bool = False, overwrite: bool = False) -> FitResult:
        """DESIGN.md's data flow: cache the interface once, then epochs of (synthesis,) training and
        evaluation, each ending in a checkpoint.

        The output folder must be new or empty. ``resume`` continues an unfinished run of this spec
        there from its last finished epoch, and ends exactly as the run would have uninterrupted;
        ``overwrite`` removes the sage run the folder holds; both: resume where possible, else start
        again. Every input is checked before anything in the folder is touched.
        """
        cluster = Cluster.from_environment(resolve_device(self.spec.device))
        if cluster.distributed and resume:
            raise InputError("resume is not supported in a run over several processes yet; run again with --overwrite")
        progress = self.progress and cluster.is_main  # one process shows progress
        folder = RunFolder(self.spec.run_dir(), self.spec.fingerprint())
        plan = cluster.on_main(lambda: folder.plan(resume, overwrite))  # refuses before any work
        if plan == "resume":
            cluster.on_main(lambda: checkpoint.verify(folder.checkpoint))
        inputs = check_inputs(self.spec)  # a wrong input stops the run before the folder is touched
        main_only = contextlib.nullcontext
        with folder.locked() if cluster.is_main else main_only():
            plan = cluster.on_main(lambda: folder.take(resume, overwrite))
            with folder.running() if cluster.is_main else main_only():
                run = None
                try:
                    run = start(self.spec, folder, cluster, inputs, progress)
                    if plan == "resume":
                        checkpoint.load(folder.checkpoint, run.stateful_parts())
                    start_info = FitStart(self.spec, folder.path, tuple(run.record.history), progress)
                    run.callbacks.notify("on_fit_start", start_info)
                    while not self._done(run):
                        epoch = len(run.record.history) + 1
                        synthetic = self._synthesise(run, epoch)  # None in warm-up epochs and for plain KD
                        row = self._train(run, epoch, synthetic)
                        row = cluster.broadcast(row | self._evaluate(run) if cluster.is_main else row)
                        self._record(run, row)
                        if cluster.is_main:
                            checkpoint.save(folder.checkpoint, run.stateful_parts())
                            folder.record_entries()
                finally:
                    if run is not None and run.synthesiser is not None:
                        run.synthesiser.close()  # no background fit or temporary file outlives the run
                return cluster.on_main(lambda: finish(run))

    # -- the steps of one epoch -------------------------------------------------------------------

    def _synthesise(self, run: Run, epoch: int) -> SyntheticSet | None:
        """Rank the examples by the student's divergence from the teacher, and make this epoch's
        synthetic set near the hardest (rank 0 makes it; every rank trains on it)."""
        run.epoch_started = time.perf_counter()
        if not self.spec.uses_synthetic_data or epoch <= self.spec.schedule.warmup_epochs:
            return None
        synthetic = None
        if run.cluster.is_main:
            if run.record.outputs is None:  # no warm-up: rank the untrained student
                run.record.outputs = predict(run.inference, run.train.vectors, run.inference_batch)
            synthetic = run.synthesiser.generate(run.record.outputs, run.student)
            run.record.last_map = map_inputs(run, synthetic)
            run.callbacks.notify("on_synthesis", synthetic)
        if run.cluster.distributed:
            synthetic = run.cluster.broadcast(synthetic.to("cpu") if run.cluster.is_main else None).to(run.device)
        return synthetic

    def _train(self, run: Run, epoch: int, synthetic: SyntheticSet | None) -> dict[str, Any]:
        """One pass over the real examples (unless the spec drops them) and the synthetic ones."""
        schedule = self.spec.schedule
        row: dict[str, Any] = {"epoch": epoch, "phase": "warmup" if epoch <= schedule.warmup_epochs else "real"}
        sources = [run.real]  # and the epoch's transfer rows: unlabelled text the teacher labelled
        transfer = run.transfer.epoch_source() if run.transfer is not None else None
        if transfer is not None:
            sources.append(transfer)
        if synthetic is not None:
            row["phase"] = "synthetic"
            row |= synthetic.stats
            no_labels = run.train.labels.new_full((len(synthetic.parents),), -1)  # teacher-labelled only
            source = TrainingSource(synthetic.vectors, synthetic.teacher, no_labels, run.synthetic_order, run.synthetic_dropout)
            sources = [*sources, source] if schedule.keep_real else [source]
            run.record.synthetic_epochs += 1
            run.record.synthetic_examples += len(synthetic.parents)
        row["n_train"] = sum(len(source.data) for source in sources)
        if transfer is not None:
            row["n_transfer"] = len(transfer.data) if synthetic is None or schedule.keep_real else 0
        started = time.perf_counter()
        row |= train_epoch(
            run.forward, sources, run.loss_fn, run.optimizer, run.lr_schedule, epoch, schedule.batch_size,
            schedule.max_grad_norm, f"epoch {epoch}/{schedule.max_epochs}" if run.progress else None, run.cluster,
        )
        row["train_s"] = time.perf_counter() - started
        run.record.steps += row["steps"]
        return row

    def _evaluate(self, run: Run) -> dict[str, Any]:
        """The student's agreement with the teacher on the training set, and its dev metrics."""
        run.record.outputs = predict(run.inference, run.train.vectors, run.inference_batch)
        dev = run.scores(predict(run.inference, run.dev.vectors, run.inference_batch), run.dev.labels)
        return {"agreement": run.agreement(run.record.outputs, run.train.teacher)} | {f"dev_{name}": value for name, value in dev.items()}

    def _record(self, run: Run, row: dict[str, Any]) -> None:
        row["epoch_s"] = time.perf_counter() - run.epoch_started
        run.record.history.append(row)
        run.callbacks.notify("on_epoch_end", row)

    def _done(self, run: Run) -> bool:
        """All epochs run, or agreement reached, and, for a run with synthesis, after at least one
        synthetic epoch: a run that stopped in its warm-up would be plain KD filed as SAGE."""
        history = run.record.history
        if not history:
            return False
        reached = history[-1]["agreement"] >= self.spec.schedule.agreement_target
        if reached and (not self.spec.uses_synthetic_data or run.record.synthetic_epochs > 0):
            run.stopped_by = "agreement"
            return True
        return len(history) >= self.spec.schedule.max_epochs


def build(spec: Any, overrides: tuple[str, ...] | list[str] = (), progress: bool = True) -> Distiller:
    """A ``Distiller`` from a ``SageSpec``, a mapping, or a YAML/JSON file path, with ``key=value`` overrides."""
    from sage.spec.file import load_spec

    return Distiller(load_spec(spec, overrides), progress=progress)


__all__ = ["Distiller", "FitResult", "build"]
