"""``leadworker model``: train a scoring model on recorded outcomes, list and show models, activate one, roll back.

Activating (or rolling back) re-scores every live lead in the background: the command publishes re-score
batches to ``leads.score`` and returns; a worker running the score stage does the work.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import typer

from leadworker.cli.helpers import emit_json, print_table, run_async, settings
from leadworker.errors import UsageError
from leadworker.ops.connections import database, publishing

model_app = typer.Typer(
    help="Learned scoring: train on recorded outcomes, list, show, activate, roll back.", no_args_is_help=True
)


def _model_id(value: str) -> int:
    try:
        ident = int(value)
        if not 1 <= ident < 2**63:
            raise ValueError
    except ValueError:
        raise UsageError(f"{value!r} is not a model id (a positive number such as 3)") from None
    return ident


def _metrics_table(report: dict[str, Any]) -> None:
    model, rule = report["metrics"], report["rule_score"]
    print_table(
        [
            [name, model[key], rule[key]]
            for name, key in (("ROC AUC", "auc"), ("average precision", "average_precision"), ("Brier score", "brier"))
        ],
        ["held out", "model", "rule score"],
    )
    typer.echo("\ncalibration of the model (held out):")
    print_table(
        [[f"{b['from']:.1f}-{b['to']:.1f}", b["count"], b["predicted"], b["observed"]] for b in model["calibration"]],
        ["P(won)", "leads", "predicted", "won"],
    )


def _figure(report: Any, part: str, name: str) -> Any:
    """``report[part][name]``, or empty where a model's metrics do not have it (a body stored by hand)."""
    section = report.get(part) if isinstance(report, dict) else None
    return section.get(name, "") if isinstance(section, dict) else ""


@model_app.command("train")
def model_train(as_json: bool = typer.Option(False, "--json")) -> None:
    """Fit a model on the outcomes recorded so far and store it (not active); report it beside the rule score."""
    if importlib.util.find_spec("sklearn") is None:
        typer.echo("leadworker: training needs scikit-learn: pip install 'leadworker[ml]'", err=True)
        raise typer.Exit(1)
    from leadworker.learning.retrain import NotEnoughOutcomes, train_and_store

    cfg = settings()

    async def go() -> dict[str, Any]:
        async with database(cfg) as db:
            return await train_and_store(db, cfg)

    try:
        report = run_async(go())
    except NotEnoughOutcomes as exc:
        typer.echo(f"leadworker: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        emit_json(report)
        return
    counts, window = report["counts"], report["window"]
    typer.echo(
        f"model {report['id']} trained on {counts['train']} outcome(s) up to {window['train_to']}, measured on the "
        f"{counts['test']} newest ({window['test_from']} to {window['test_to']}); {counts['features']} features, "
        f"C={report['regularization']['C']:.3g}\n"
    )
    _metrics_table(report)
    typer.echo(f"\nactivate it with: leadworker model activate {report['id']}")


@model_app.command("list")
def model_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Models, newest first, with their held-out AUC beside the rule score's; * marks the active one."""
    from leadworker.store.score_models import list_models

    cfg = settings()

    async def go() -> list[dict[str, Any]]:
        async with database(cfg) as db:
            return await list_models(db)

    models = run_async(go())
    if as_json:
        emit_json(models)
        return
    if not models:
        typer.echo("no models yet; record outcomes (leadworker leads outcome ...) and run: leadworker model train")
        return
    print_table(
        [
            [
                ("* " if m["active"] else "  ") + str(m["id"]),
                m["status"],
                m["trigger"],
                m["created_at"].isoformat(timespec="seconds"),
                _figure(m["metrics"], "counts", "outcomes"),
                _figure(m["metrics"], "metrics", "auc"),
                _figure(m["metrics"], "rule_score", "auc"),
            ]
            for m in models
        ],
        ["model", "status", "by", "trained", "outcomes", "AUC", "rule AUC"],
    )


@model_app.command("show")
def model_show(
    model_id: str = typer.Argument(..., help="The model's id."), as_json: bool = typer.Option(False, "--json")
) -> None:
    """A model's metrics, training window, counts and its weights (largest first)."""
    from leadworker.learning.features import title
    from leadworker.learning.model import LearnedModel
    from leadworker.store.score_models import get_model

    ident = _model_id(model_id)
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        async with database(cfg) as db:
            return await get_model(db, ident)

    model = run_async(go())
    if model is None:
        typer.echo(f"leadworker: no model {ident}", err=True)
        raise typer.Exit(1)
    if as_json:
        emit_json(model)
        return
    report = model["metrics"]
    typer.echo(
        f"model {ident}: {model['status']} by {model['trigger']} at {model['created_at'].isoformat(timespec='seconds')}"
        f"{' (active)' if model['active'] else ''}"
    )
    typer.echo(f"outcomes: {report['counts']}\nwindow: {report['window']}")
    if "compared_with" in report:
        typer.echo(f"compared with model {report['compared_with']['model']}: AUC {report['compared_with']['auc']}")
    typer.echo("")
    _metrics_table(report)
    learned = LearnedModel.from_json(ident, model["body"])
    weights = sorted(
        ((name, w) for name, w in learned.weights.items() if w),
        key=lambda kv: -abs(kv[1] * learned.scales[learned.features.index(kv[0])]),
    )
    typer.echo("\nweights (log-odds per unit; largest effect first):")
    print_table([[title(name), name, round(w, 4)] for name, w in weights[:30]], ["feature", "name", "weight"])
    # The lasso leaves most features out: listing them at 0 would bury the few that score.
    unused = len(learned.features) - len(weights)
    if unused:
        typer.echo(f"({unused} other feature{'s' if unused > 1 else ''} weigh 0: the model does not use them)")


def _rescore(cfg: Any, tag: str) -> str:
    from leadworker.stages.rescore import request_rescore

    async def go() -> tuple[int, int]:
        async with database(cfg) as db, publishing(cfg) as (_, topology, publisher):
            done = await request_rescore(db, publisher.publish_many, topology, tag)
            return done.leads, done.messages

    leads, messages = run_async(go())
    return f"re-scoring {leads} lead score(s) in the background ({messages} message(s) on leads.score)"


@model_app.command("activate")
def model_activate(model_id: str = typer.Argument(..., help="The model's id.")) -> None:
    """Score with this model from now on, and re-score every live lead with it in the background."""
    from leadworker.store.score_models import activate, active_model_id, get_model

    ident = _model_id(model_id)
    cfg = settings()

    async def go() -> str | None:
        async with database(cfg) as db:
            if await get_model(db, ident) is None:
                return None
            if await active_model_id(db) == ident:
                return "already active"
            await activate(db, ident, "cli: model activate")
            return "active"

    state = run_async(go())
    if state is None:
        typer.echo(f"leadworker: no model {ident}", err=True)
        raise typer.Exit(1)
    typer.echo(f"model {ident} is {state}; {_rescore(cfg, f'model{ident}')}")


@model_app.command("rollback")
def model_rollback() -> None:
    """Undo the latest activation: the model before it (or the rule score) scores again; re-scores every lead."""
    from leadworker.store.score_models import rollback

    cfg = settings()

    async def go() -> tuple[int | None, int | None] | None:
        async with database(cfg) as db:
            return await rollback(db)

    rolled = run_async(go())
    if rolled is None:
        typer.echo(
            "leadworker: no model was activated; the rule score is active and there is nothing to roll back", err=True
        )
        raise typer.Exit(1)
    undone, now = rolled
    active = f"model {now} is active again" if now is not None else "the rule score is active again"
    typer.echo(f"rolled back model {undone}; {active}; {_rescore(cfg, f'rollback{undone}to{now}')}")
