"""Tables and plots of a bench: the scale table's verdicts, cost and ceiling; quality, SAGE
against KD, convergence, synthetic data, ablation."""

from __future__ import annotations

import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scipy import stats  # noqa: E402

import sage.tasks  # noqa: E402
from sage.bench.config import CurveConfig, ScaleConfig, curve_method, merge, task_spec_data  # noqa: E402
from sage.spec.file import load_spec  # noqa: E402

METHOD_NAMES = {"labels": "student, labels only", "kd": "student, plain KD", "sage": "student, SAGE"}
DIAGNOSTICS = {
    "teacher_margin_synthetic": "teacher margin, synthetic",
    "teacher_margin_parent": "teacher margin, parents",
    "divergence_synthetic": "divergence, synthetic",
    "divergence_parent": "divergence, parents",
    "synthetic_shift": "shift from parent",
    "teacher_flip": "teacher label flips",
    "hard_clustering": "hard clustering",
    "inverse_cosine": "inverse cosine",
    "inverse_fvu": "inverse FVU",
}
# A verdict between two methods needs at least this many paired seeds.
VERDICT_SEEDS = 5

Rows = Sequence[dict[str, Any]]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def cell(values: Sequence[float], scale: float = 100, digits: int = 1) -> str:
    """``mean ± std`` of ``values`` × ``scale``; "–" where a bench has no rows for it yet."""
    if not values:
        return "–"
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def task_header(task: str) -> str:
    metrics = sage.tasks.get(task).metrics
    return f"{task} ({'/'.join(metrics)})"


def scores(rows: Rows, table: str, task: str, method: str) -> list[float]:
    return [row["dev"]["score"] for row in rows if (row["table"], row["task"], row["method"]) == (table, task, method)]


def seed_rows(rows: Rows, table: str, task: str, method: str) -> dict[int, dict[str, Any]]:
    """A method's rows on a task, by seed: what paired differences are taken between."""
    return {row["seed"]: row for row in rows if (row["table"], row["task"], row["method"]) == (table, task, method)}


def seed_scores(rows: Rows, table: str, task: str, method: str) -> dict[int, float]:
    return {seed: row["dev"]["score"] for seed, row in seed_rows(rows, table, task, method).items()}


def teacher_scores(rows: Rows, task: str) -> list[float]:
    """The dev score of each teacher the task's rows were distilled from: one per machine it was fine-tuned on."""
    # Rows from before teachers were recorded by contents are told apart by their teacher's score.
    teachers = {row.get("teacher") or row["teacher_dev"]["score"]: row["teacher_dev"]["score"] for row in rows if row["task"] == task}
    return list(teachers.values())


def teacher_score(rows: Rows, task: str) -> float | None:
    values = teacher_scores(rows, task)
    return statistics.fmean(values) if values else None


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def quality_table(rows: Rows, tasks: Sequence[str], methods: Sequence[str]) -> str:
    # Each cell also says how much of its task's teacher the method keeps; the last column averages that over tasks.
    header = ["method", *map(task_header, tasks), "average", "% of teacher"]
    teachers = {task: teacher_score(rows, task) for task in tasks}
    known = [teacher for teacher in teachers.values() if teacher is not None]
    body = [["teacher (fine-tuned MiniLM-L6, one per task)", *(f"{teachers[t] * 100:.1f}" if teachers[t] is not None else "–" for t in tasks),
             f"{statistics.fmean(known) * 100:.1f}" if len(known) == len(tasks) else "–", "100"]]
    for method in methods:
        per_task = {task: scores(rows, "quality", task, method) for task in tasks}
        # Averages pair seed i of every task, so they wait until every task has the same seeds.
        counts = {len(values) for values in per_task.values()}
        seeds = counts.pop() if len(counts) == 1 else 0
        averages = [statistics.fmean(per_task[t][i] for t in tasks) for i in range(seeds)]
        retained = [statistics.fmean(per_task[t][i] / teachers[t] for t in tasks) for i in range(seeds)]
        body.append([METHOD_NAMES.get(method, method), *(retained_cell(per_task[t], teachers[t]) for t in tasks), cell(averages), cell(retained)])
    return markdown_table(header, body)


def retained_cell(values: Sequence[float], teacher: float | None) -> str:
    """``mean ± std (p%)``: the score over seeds and the share of the teacher's score it keeps."""
    if not values or not teacher:
        return cell(values)
    return f"{cell(values)} ({100 * statistics.fmean(values) / teacher:.0f}%)"


def _t_test(differences: Sequence[float]) -> Any:
    """scipy's one-sample t-test of per-seed differences against 0 (two or more of them)."""
    with warnings.catch_warnings():
        # Differences (nearly) alike across seeds make scipy warn of precision loss; the interval
        # it returns is still right (zero width), and the warning would only clutter the report.
        warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
        return stats.ttest_1samp(differences, 0.0)


def paired_difference(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-seed differences and its two-sided t confidence interval (nan bounds for one seed)."""
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, float("nan"), float("nan")
    interval = _t_test(differences).confidence_interval(confidence)
    return mean, float(interval.low), float(interval.high)


def paired_p_value(differences: Sequence[float]) -> float:
    """The two-sided paired t-test's p (nan for one seed). Differences all zero, from two methods
    that scored alike on every seed, give 1: no sign of a difference (scipy's t is 0/0 there)."""
    if len(differences) < 2:
        return float("nan")
    if not any(differences):
        return 1.0
    return float(_t_test(differences).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: the i-th smallest of m (from 0) times
    m - i, raised to the largest before it so that the order is kept, at most 1."""
    adjusted, largest = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(sorted(range(len(p_values)), key=lambda i: p_values[i])):
        largest = max(largest, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = largest
    return adjusted


def difference_cell(mean: float, low: float, high: float, seeds: int) -> str:
    """``mean [low, high]`` of a paired difference; the mean alone from one seed."""
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]" if seeds > 1 else f"{mean:+.1f}"


def verdict(low: float, high: float, seeds: int) -> str:
    """By the interval alone: "beats" above zero, "behind" below it, else "no difference shown"."""
    if seeds < VERDICT_SEEDS:
        return f"none yet ({seeds} seed{'' if seeds == 1 else 's'}; a verdict needs {VERDICT_SEEDS})"
    if low > 0:
        return "beats"
    if high < 0:
        return "behind"
    return "no difference shown"


def paired_table(rows: Rows, tasks: Sequence[str], methods: Sequence[str], baseline: str) -> str:
    """Each method minus ``baseline``, seed by seed (same student initialisation and real batches),
    as the mean difference with its 95% t interval, × 100."""
    header = ["task", "method", f"− {METHOD_NAMES.get(baseline, baseline)}: mean [95% CI]", "seeds", "verdict"]
    body = []
    for task in tasks:
        reference = seed_scores(rows, "quality", task, baseline)
        for method in methods:
            if method == baseline:
                continue
            chosen = seed_scores(rows, "quality", task, method)
            seeds = sorted(set(chosen) & set(reference))
            if not seeds:
                continue
            mean, low, high = paired_difference([(chosen[s] - reference[s]) * 100 for s in seeds])
            interval = difference_cell(mean, low, high, len(seeds))
            body.append([task, METHOD_NAMES.get(method, method), interval, str(len(seeds)), verdict(low, high, len(seeds))])
    return markdown_table(header, body)


def p_cell(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def spread_cell(values: Sequence[float], digits: int) -> str:
    """``median [min–max]`` of a method's per-seed values; "–" where it has none yet."""
    if not values:
        return "–"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def run_seconds(row: dict[str, Any]) -> float | None:
    """A run's own wall time: the whole run less the setup every method of its task shares (the
    teacher fine-tuned or loaded, its outputs on train and dev). None for a row from before rows
    kept their setup time."""
    if "setup_seconds" not in row:
        return None
    return row["total_seconds"] - row["setup_seconds"]


def cost_ratios(rows: Rows, table: str, task: str, method: str, baseline: str) -> dict[int, float]:
    """``method``'s run time over ``baseline``'s, seed by seed, where both were timed."""
    chosen, reference = seed_rows(rows, table, task, method), seed_rows(rows, table, task, baseline)
    ratios = {}
    for seed in sorted(set(chosen) & set(reference)):
        own, theirs = run_seconds(chosen[seed]), run_seconds(reference[seed])
        if own is not None and theirs:
            ratios[seed] = own / theirs
    return ratios


def scale_verdict_table(rows: Rows, scale: ScaleConfig, tasks: Sequence[str]) -> tuple[str, int]:
    """Per task, method and baseline: the mean paired difference × 100 with its 95% t interval, the
    paired t-test's p, and that p adjusted by Holm-Bonferroni over every comparison of the table
    with two or more paired seeds (how many is returned with the table)."""
    differences = {}
    for task in tasks:
        for method, baseline in scale.comparisons():
            chosen, reference = seed_scores(rows, "scale", task, method), seed_scores(rows, "scale", task, baseline)
            differences[task, method, baseline] = [(chosen[s] - reference[s]) * 100 for s in sorted(set(chosen) & set(reference))]
    tested = [key for key, values in differences.items() if len(values) > 1]
    adjusted = dict(zip(tested, holm([paired_p_value(differences[key]) for key in tested])))
    header = ["task", "method", "against", "difference × 100: mean [95% CI]", "seeds", "p", "Holm p", "verdict"]
    body = []
    for (task, method, baseline), values in differences.items():
        name = METHOD_NAMES.get(method, method)
        if (method, baseline) == (scale.primary.method, scale.primary.baseline):
            name = f"**{name}** (primary)"
        against = METHOD_NAMES.get(baseline, baseline)
        if not values:
            body.append([task, name, against, "not run yet", "0", "–", "–", "not run yet"])
            continue
        mean, low, high = paired_difference(values)
        body.append([
            task, name, against, difference_cell(mean, low, high, len(values)), str(len(values)),
            p_cell(paired_p_value(values)), p_cell(adjusted.get((task, method, baseline), float("nan"))), verdict(low, high, len(values)),
        ])
    return markdown_table(header, body), len(tested)


def scale_cost_table(rows: Rows, scale: ScaleConfig, tasks: Sequence[str], seeds: Sequence[int]) -> str:
    """Each method's run time over the cost baseline's, seed by seed, then the median and range over
    seeds; the cost baseline's own row gives its run time in seconds."""
    header = ["task", "method", *(f"seed {seed}" for seed in seeds), "median [range]"]
    baseline = scale.cost_baseline
    body = []
    for task in tasks:
        timed = {seed: run_seconds(row) for seed, row in seed_rows(rows, "scale", task, baseline).items()}
        seconds = {seed: value for seed, value in timed.items() if value is not None}
        cells = [f"{seconds[seed]:.0f}" if seed in seconds else "–" for seed in seeds]
        body.append([task, f"{METHOD_NAMES.get(baseline, baseline)}: run time in s", *cells, spread_cell(list(seconds.values()), 0)])
        for method in scale.methods:
            if method == baseline:
                continue
            ratios = cost_ratios(rows, "scale", task, method, baseline)
            cells = [f"{ratios[seed]:.2f}" if seed in ratios else "–" for seed in seeds]
            body.append([task, METHOD_NAMES.get(method, method), *cells, spread_cell(list(ratios.values()), 2)])
    return markdown_table(header, body)


def recovered_cell(pool_gains: Sequence[float], ceiling_gains: Sequence[float]) -> str:
    """(pool − KD) / (ceiling − KD) from the mean gains, with the range of the per-seed ratios over
    the seeds where the ceiling gained (elsewhere the ratio has no meaning)."""
    if not ceiling_gains:
        return "not run yet"
    if statistics.fmean(ceiling_gains) <= 0:
        return "– (no ceiling gain over KD)"
    share = statistics.fmean(pool_gains) / statistics.fmean(ceiling_gains)
    per_seed = [pool / ceiling for pool, ceiling in zip(pool_gains, ceiling_gains) if ceiling > 0]
    return f"{share:.0%} [{min(per_seed):.0%}, {max(per_seed):.0%}]"


def scale_ceiling_table(rows: Rows, scale: ScaleConfig, tasks: Sequence[str]) -> str:
    """Per task: plain KD, the primary method and the ceiling, their gains over KD paired by seed,
    and how much of the ceiling's gain the primary method recovers."""
    kd, pool, ceiling = scale.cost_baseline, scale.primary.method, scale.ceiling
    names = {method: METHOD_NAMES.get(method, method) for method in (kd, pool, ceiling)}
    header = [
        "task", *names.values(), f"{names[ceiling]} − {names[kd]}", f"{names[pool]} − {names[kd]}",
        "recovered: mean [seed range]", "seeds",
    ]
    body = []
    for task in tasks:
        by_method = {method: seed_scores(rows, "scale", task, method) for method in names}
        seeds = sorted(set(by_method[kd]) & set(by_method[pool]) & set(by_method[ceiling]))
        gains = {method: [(by_method[method][s] - by_method[kd][s]) * 100 for s in seeds] for method in (ceiling, pool)}
        differences = [difference_cell(*paired_difference(gains[m]), len(seeds)) if seeds else "not run yet" for m in (ceiling, pool)]
        body.append([
            task, *(cell(list(by_method[method].values())) for method in names), *differences,
            recovered_cell(gains[pool], gains[ceiling]), str(len(seeds)),
        ])
    return markdown_table(header, body)


def scale_section(rows: Rows, scale: ScaleConfig, seeds: Sequence[int]) -> list[str]:
    """The scale table's verdicts, cost and ceiling, for the tasks it has rows of; the others "not run yet"."""
    ran = [task for task in scale.tasks if any((row["table"], row["task"]) == ("scale", task) for row in rows)]
    waiting = [task for task in scale.tasks if task not in ran]
    method, baseline = (METHOD_NAMES.get(m, m) for m in (scale.primary.method, scale.primary.baseline))
    names = [METHOD_NAMES.get(m, m) for m in scale.methods if m not in scale.baselines]
    sections = [
        f"## {scale.title}",
        f"The primary comparison, named before the runs: **{method}** against **{baseline}**, on each task;"
        f" every other row is secondary. Tasks: {', '.join(scale.tasks)}. Methods: {'; '.join(names)}; each is"
        f" compared with the baselines {'; '.join(METHOD_NAMES.get(m, m) for m in scale.baselines)}, and each"
        " baseline with those before it.",
    ]
    notes = [scale.notes.strip()] if scale.notes.strip() else []
    if not ran:
        return [*sections, f"Not run yet: no rows for any of its tasks ({', '.join(waiting)}).", *notes]
    verdicts, tested = scale_verdict_table(rows, scale, ran)
    planned = len(scale.tasks) * len(scale.comparisons())
    sections += [
        "Seed s of every method shares its student initialisation and its real batches with seed s of each"
        " baseline. Each row is the mean per-seed difference in dev score × 100 with its 95% t interval, and the"
        f" paired t-test's two-sided p; the Holm p adjusts it (Holm-Bonferroni) over the {tested} comparisons"
        f" below with two or more paired seeds ({planned} once every task has run). The verdict follows from the"
        f" unadjusted interval alone, from {VERDICT_SEEDS} seeds on, as in the tables further down; a secondary"
        " row is borne out only where its Holm p is small too."
        + (f" Not run yet: {', '.join(waiting)}." if waiting else ""),
        verdicts,
        f"### Cost: whole-run wall time against {METHOD_NAMES.get(scale.cost_baseline, scale.cost_baseline)}",
        "Each run's wall time, less the setup every method of a task shares (the teacher fine-tuned or loaded,"
        " its outputs on train and dev computed or read from the cache), over that of"
        f" {METHOD_NAMES.get(scale.cost_baseline, scale.cost_baseline)} on the same task and seed; then the median"
        " and range over seeds. It counts making, labelling and scoring synthetic points, and the teacher"
        " labelling transfer rows, which are cached after a task's first run on a machine, so that a ceiling's"
        " first seed alone pays for them. A run resumed from its checkpoint counts its last session alone, and a"
        " row made before rows kept their setup time has no ratio (–).",
        scale_cost_table(rows, scale, ran, seeds),
    ]
    if scale.ceiling is not None:
        ceiling = METHOD_NAMES.get(scale.ceiling, scale.ceiling)
        sections += [
            f"### The real-data ceiling: {ceiling}",
            f"The ceiling, {ceiling}, trains plain KD on real train rows beyond the students' subset, labelled by the"
            f" teacher, in place of {method}'s synthetic points. Recovered is ({method} − KD) / (ceiling − KD), from the"
            " mean gains over the seeds all three have, with the range of the per-seed ratios over the seeds"
            " where the ceiling gained.",
            scale_ceiling_table(rows, scale, ran),
        ]
    return [*sections, *notes]


def convergence_table(rows: Rows, tasks: Sequence[str], methods: Sequence[str]) -> str:
    header = ["task", "method", "epochs to 99% train agreement", "training wall time (s)", "final dev score"]
    body = []
    for task in tasks:
        for method in methods:
            chosen = [row for row in rows if (row["table"], row["task"], row["method"]) == ("quality", task, method)]
            if not chosen:
                continue
            reached = [row["epochs_to_agreement"] for row in chosen if row["epochs_to_agreement"] is not None]
            epochs = f"{statistics.fmean(reached):.1f} ({len(reached)}/{len(chosen)} seeds)" if reached else f"not reached (0/{len(chosen)})"
            # Training only: the first run of a task also fine-tunes the shared teacher.
            seconds = cell([row["train_seconds"] for row in chosen], scale=1)
            body.append([task, METHOD_NAMES.get(method, method), epochs, seconds, cell([row["dev"]["score"] for row in chosen])])
    return markdown_table(header, body)


def diagnostics_table(rows: Rows, table: str, tasks: Sequence[str], methods: Sequence[str]) -> str:
    header = ["task", "method", *DIAGNOSTICS.values()]
    body = []
    for task in tasks:
        for method in methods:
            chosen = [row["diagnostics"] for row in rows if (row["table"], row["task"], row["method"]) == (table, task, method)]
            if not chosen or not chosen[0]:
                continue
            values = [cell([d[key] for d in chosen if key in d], scale=1, digits=3) for key in DIAGNOSTICS]
            body.append([task, METHOD_NAMES.get(method, method), *(v.replace(" ± ", "±") for v in values)])
    return markdown_table(header, body)


def ablation_table(rows: Rows, tasks: Sequence[str], variants: Sequence[str]) -> str:
    """Each variant's score, and its difference from SAGE's on the same data and seeds."""
    header = ["variant", *map(task_header, tasks), *(f"Δ vs SAGE, {task}" for task in tasks)]
    body = []
    for variant in variants:
        values = {task: scores(rows, "ablation", task, variant) for task in tasks}
        deltas = []
        for task in tasks:
            reference = scores(rows, "quality", task, "sage")
            deltas.append(f"{(statistics.fmean(values[task]) - statistics.fmean(reference)) * 100:+.1f}" if reference and values[task] else "–")
        body.append([variant, *(cell(values[t]) for t in tasks), *deltas])
    return markdown_table(header, body)


def curve_table(rows: Rows, curve: CurveConfig) -> str:
    """Each method's score at each size, and each method's paired difference from the first."""
    reference = curve.methods[0]
    header = [
        "training examples",
        *(METHOD_NAMES.get(m, m) for m in curve.methods),
        *(f"{METHOD_NAMES.get(m, m)} − {METHOD_NAMES.get(reference, reference)}: mean [95% CI]" for m in curve.methods[1:]),
        "seeds",
    ]
    body = []
    for size in curve.sizes:
        by_method = {
            method: {row["seed"]: row["dev"]["score"] for row in rows if (row["table"], row["method"]) == ("curve", curve_method(method, size))}
            for method in curve.methods
        }
        differences, seeds = [], set(by_method[reference])
        for method in curve.methods[1:]:
            paired = sorted(set(by_method[method]) & set(by_method[reference]))
            seeds &= set(paired)
            if len(paired) > 1:
                mean, low, high = paired_difference([(by_method[method][s] - by_method[reference][s]) * 100 for s in paired])
                differences.append(f"{difference_cell(mean, low, high, len(paired))} ({verdict(low, high, len(paired))})")
            else:
                differences.append("–")
        body.append([str(size), *(cell(list(by_method[m].values())) for m in curve.methods), *differences, str(len(seeds))])
    return markdown_table(header, body)


def plot_size_curve(rows: Rows, curve: CurveConfig, path) -> None:
    """Dev score against training-set size: mean and standard deviation over seeds, per method."""
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for method in curve.methods:
        points = []
        for size in curve.sizes:
            values = [row["dev"]["score"] * 100 for row in rows if (row["table"], row["method"]) == ("curve", curve_method(method, size))]
            if values:
                points.append((size, *mean_std(values)))
        if points:
            sizes, means, stds = zip(*points)
            axes.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=METHOD_NAMES.get(method, method))
    axes.set_xscale("log")
    axes.set_xticks(curve.sizes, [str(size) for size in curve.sizes])
    axes.set_xticks([], minor=True)  # the log scale's own minor labels would overlap the sizes
    axes.set_xlabel("training examples")
    axes.set_ylabel(f"dev {'/'.join(sage.tasks.get(curve.task).metrics)} × 100")
    axes.set_title(f"{curve.task}: dev score against training-set size (mean ± std over seeds)")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_curves(rows: Rows, task: str, methods: Sequence[str], path) -> None:
    """Dev score against wall time, one line per seed, one colour per method."""
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, method in zip(colours, methods):
        chosen = [row for row in rows if (row["table"], row["task"], row["method"]) == ("quality", task, method)]
        for index, row in enumerate(chosen):
            seconds = [point["seconds"] for point in row["curve"]]
            values = [point["score"] * 100 for point in row["curve"]]
            axes.plot(seconds, values, color=colour, alpha=0.8, marker=".", label=METHOD_NAMES.get(method, method) if index == 0 else None)
    axes.set_xlabel("training wall time (s)")
    axes.set_ylabel(f"dev {'/'.join(sage.tasks.get(task).metrics)} × 100")
    axes.set_title(f"{task}: dev score against wall time, each line one seed")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_report(config, rows: Rows) -> None:
    """``results.md`` and the plots, from every row so far."""
    tasks = list(config.tasks)
    methods = list(config.methods)
    synthesising = [m for m in methods if load_spec(merge(task_spec_data(config, tasks[0]), config.methods[m])).uses_synthetic_data]
    plots = config.output_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    machines = sorted({row["machine"] for row in rows})
    sizes = {task: sorted({row["train_examples"] for row in rows if row["task"] == task}) for task in tasks}
    command = config.command or "sage bench <config>"
    full_train_teachers = [task for task in tasks if load_spec(task_spec_data(config, task)).teacher.finetune.full_train]

    def evaluation_of(chosen: Sequence[str]) -> str:
        held = {task: load_spec(task_spec_data(config, task)).task.holdout for task in chosen}
        if not any(held.values()):
            return "the full dev sets"
        return ", ".join(f"{task} {f'{held[task]} held-out train rows' if held[task] else 'dev'}" for task in chosen)

    def sizes_of(chosen: Sequence[str]) -> str:
        return ", ".join(f"{task} {'/'.join(map(str, sizes[task])) or '–'}" for task in chosen)

    sections = [
        f"# Results: {config.title}",
        "Generated by `sage bench`; every cell below is regenerated by:",
        f"```bash\n{command}\n```",
        "\n".join([
            f"- Machine: {', '.join(machines) or 'no runs yet'}.",
            f"- Seeds: {', '.join(map(str, config.seeds))}; cells are mean ± standard deviation over seeds, × 100"
            " (a score is the mean of the task's GLUE metrics).",
            f"- Training examples per task: {sizes_of(tasks)}; scored on {evaluation_of(tasks)}.",
            "- One teacher per task, fine-tuned once per machine and shared by every variant; its row has no spread"
            " unless a task's seeds ran on several machines. The seeds of one machine never mix teachers.",
            *(
                f"- {task}: {len(scores)} teachers, fine-tuned on different machines, scored"
                f" {', '.join(f'{score * 100:.1f}' for score in scores)}; its teacher row is their mean."
                for task in tasks
                if len(scores := teacher_scores(rows, task)) > 1
            ),
            *(
                [f"- Teachers fine-tuned on the whole train split, not the students' subset: {', '.join(full_train_teachers)}."]
                if full_train_teachers
                else []
            ),
        ]),
        *(scale_section(rows, config.scale, config.seeds) if config.scale is not None else []),
        "## Verdicts: each method against the baselines, paired by seed",
        "Seed s of every method shares its student initialisation and its real batches, in the same order, with seed s"
        " of the baseline. Cells are the mean per-seed difference in dev score × 100 with its 95% t interval; the verdict"
        f" follows from the interval alone, from {VERDICT_SEEDS} seeds on.",
        *(paired_table(rows, tasks, methods, baseline) for baseline in config.baselines),
        config.notes.strip(),
        "## Quality",
        quality_table(rows, tasks, methods),
        "## Convergence: epochs to 99% train agreement, and wall time",
        convergence_table(rows, tasks, methods),
    ]
    for task in tasks:
        path = plots / f"{task}-dev-vs-time.png"
        plot_curves(rows, task, methods, path)
        sections.append(f"![{task}: dev score against wall time](plots/{path.name})")
    sections += [
        "## Synthetic data, averaged over epochs",
        "Per synthetic epoch, then averaged. The teacher's margin is its top-class probability minus the runner-up's"
        " (near 0: on its decision boundary). Divergence is KL(teacher ‖ student), the ranking's measure, on the"
        " synthetic points before the student trains on them, and on their parents. The shift is the distance from a"
        " synthetic pooled vector to its parent's, relative to the mean distance of real pooled vectors from their"
        " centre. A flip is a synthetic point the teacher puts in another class than its parent. Hard clustering is"
        " the share of a hard example's 10 nearest neighbours that are hard too, over the hard fraction (1.0: no"
        " more than chance). Inverse cosine and FVU (paper pipeline only) measure how well the inverse reconstructs"
        " hard examples' pooled vectors from their coordinates, each left out of its own decoding (FVU 1.0: no"
        " better than the mean vector).",
        diagnostics_table(rows, "quality", tasks, synthesising),
    ]
    if config.curve is not None:
        path = plots / f"{config.curve.task}-dev-vs-size.png"
        plot_size_curve(rows, config.curve, path)
        sections += [
            f"## Data-size curve, {config.curve.task}",
            f"The same methods, seeds and teacher on {', '.join(map(str, config.curve.sizes))} training examples"
            " (the first rows of one fixed permutation of the train split).",
            curve_table(rows, config.curve),
            f"![{config.curve.task}: dev score against training-set size](plots/{path.name})",
        ]
    if config.ablation is not None:
        variants = list(config.ablation.variants)
        sections += [
            "## Ablation",
            f"Each variant changes one thing in the SAGE student of the quality table. Same machine and command (`{command}`); "
            f"training examples: {sizes_of(config.ablation.tasks)}.",
            ablation_table(rows, config.ablation.tasks, variants),
            "### Synthetic data in the ablation",
            diagnostics_table(rows, "ablation", config.ablation.tasks, variants),
        ]
    (config.output_dir / "results.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
