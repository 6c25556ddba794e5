"""Subcommands of the ``training`` package: train, score, promote, rollback, models, policy."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from app.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``score``, ``promote``, ``rollback``, ``models`` and ``policy`` to ``triage``."""
    from training import policy_cli

    train = subparsers.add_parser("train", help="train, evaluate and register both models")
    train.add_argument("--data", required=True, help="labelled cases (.csv or .parquet)")
    train.add_argument(
        "--kind",
        choices=("case", "terminated"),
        default="case",
        help="new cases (triage-stream, triage-assets) or terminated 终本 cases "
        "(triage-resume, triage-recovery)",
    )
    train.add_argument("--truth", help="true probabilities (from `triage generate --truth`)")
    train.add_argument("--results", help="write a JSON summary of the run here")
    train.add_argument(
        "--time-budget",
        type=float,
        help="seconds for both models, search included (default 240)",
    )
    train.add_argument("--trials", type=int, help="at most this many search trials per model")
    train.add_argument(
        "--no-figures",
        action="store_true",
        help="leave the charts out of the model cards (about half a small run's time)",
    )
    train.add_argument(
        "--cluster",
        help="fit the final models on a Dask cluster over all training cases: a scheduler's "
        "address (tcp://host:8786), or 'local' for one worker process per core on this "
        "machine; the search stays on its sample here",
    )
    train.add_argument(
        "--max-complex-to-simple",
        type=float,
        help="routing policy: share of truly complex cases allowed into the simple stream",
    )
    train.add_argument(
        "--max-simple-to-complex",
        type=float,
        help="routing policy: share of truly simple cases allowed into the complex stream",
    )
    train.set_defaults(handler=_train)

    score = subparsers.add_parser("score", help="score a file of cases with the champions")
    score.add_argument(
        "--data",
        required=True,
        help="cases to score (.csv or .parquet); with --cluster also a folder, a glob or "
        "an fsspec URL (s3://… once its filesystem package is installed)",
    )
    score.add_argument(
        "--out",
        required=True,
        help="output file (.csv or .parquet); with --cluster a folder of Parquet parts "
        "and their manifest, or an fsspec URL (s3://bucket/scores; trust it only with "
        "its _manifest.json)",
    )
    score.add_argument(
        "--cluster",
        help="score on a Dask cluster: a scheduler's address (tcp://host:8786), or 'local' "
        "for one worker process per core on this machine; one partition per input file",
    )
    score.add_argument("--chunk-rows", type=int, default=50_000, help="cases per chunk")
    score.add_argument(
        "--reasons", type=int, default=3, help="reasons per probability (0: none, faster)"
    )
    score.add_argument("--results", help="write a JSON summary (rows, seconds, versions) here")
    score.set_defaults(handler=_score)

    follow_up = subparsers.add_parser(
        "follow-up",
        help="rank terminated (终本) cases for extra follow-up work by expected yuan",
        description="Orders the extra follow-up work only: the six-monthly legal network "
        "inquiry of every terminated case is never replaced.",
    )
    follow_up.add_argument("--data", required=True, help="terminated cases (.csv or .parquet)")
    follow_up.add_argument(
        "--budget", required=True, help="follow-ups to list: a count (300) or a share (5%%)"
    )
    follow_up.add_argument("--court", help="only this court's cases (court_id)")
    follow_up.add_argument("--out", required=True, help="the list (.csv or .parquet)")
    follow_up.add_argument("--reasons", type=int, default=3, help="reasons of the probability")
    follow_up.set_defaults(handler=_follow_up)

    promote = subparsers.add_parser("promote", help="make a model version the champion by hand")
    promote.add_argument(
        "--model", required=True, help="triage-stream, triage-assets, triage-resume or …-recovery"
    )
    promote.add_argument("--version", required=True)
    promote.add_argument(
        "--reason", default="manual promotion", help="why, as the alias history records it"
    )
    promote.set_defaults(handler=_promote)

    rollback = subparsers.add_parser("rollback", help="give champion back to the previous version")
    rollback.add_argument(
        "--model", required=True, help="triage-stream, triage-assets, triage-resume or …-recovery"
    )
    rollback.add_argument(
        "--reason", default="manual rollback", help="why, as the alias history records it"
    )
    rollback.set_defaults(handler=_rollback)

    models = subparsers.add_parser("models", help="list model versions, aliases and alias history")
    models.add_argument("--model", help="only this model (e.g. triage-stream, triage-resume)")
    models.add_argument(
        "--history",
        action="store_true",
        help="print every alias move (when, who, from, to, why), newest first",
    )
    models.set_defaults(handler=_models)

    policy_cli.register(subparsers)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("mlflow", "alembic", "urllib3", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _train(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from features.load import CaseDataError
    from training.checks import TrainingRefused
    from training.config import TrainingConfig
    from training.train import TrainResult, train, write_results

    _logging()
    config = TrainingConfig(threads=get_settings().threads)
    search = {}
    if args.time_budget is not None:
        search["time_budget_seconds"] = args.time_budget
    if args.trials is not None:
        search["n_trials"] = args.trials
    policy = {}
    if args.max_complex_to_simple is not None:
        policy["max_complex_to_simple"] = args.max_complex_to_simple
    if args.max_simple_to_complex is not None:
        policy["max_simple_to_complex"] = args.max_simple_to_complex
    try:
        config = TrainingConfig.model_validate(
            config.model_dump()
            | {"search": config.search.model_dump() | search}
            | {"policy": config.policy.model_dump() | policy}
            | ({"figures": False} if args.no_figures else {})
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    if args.cluster and args.kind == "terminated":
        raise CommandError("--cluster trains the new-case models only, not --kind terminated")
    result: TrainResult
    try:
        if args.kind == "terminated":
            from training.terminated import train_terminated

            result = train_terminated(args.data, truth=args.truth, config=config)
        else:
            result = train(args.data, truth=args.truth, config=config, cluster=args.cluster)
    except (TrainingRefused, CaseDataError, FileNotFoundError, ValueError) as error:
        raise CommandError(f"refused, nothing registered: {error}") from error
    print_outcomes(result)
    print(f"\nrun {result.run_id}: {result.n_cases} cases in {result.seconds:.0f} s")
    if args.results:
        write_results(result, args.results)
    return 0


def print_outcomes(result) -> None:
    """Each model's card summary and what the promotion gate decided."""
    from training.card import summary_lines

    for kind, outcome in result.outcomes.items():
        print()
        print("\n".join(summary_lines(outcome.card)))
        print(f"  {result.promotions[kind]['reason']}")


def _score(args: argparse.Namespace) -> int:
    from features.load import CaseDataError
    from training.score import score_file

    _logging()
    if args.cluster:
        summary = _score_on_cluster(args)
    else:
        try:
            summary = score_file(
                args.data, args.out, chunk_rows=args.chunk_rows, reasons=args.reasons
            )
        except CaseDataError as error:
            raise CommandError(f"refused, nothing written:\n{error}") from error
        except LookupError as error:
            raise CommandError(str(error)) from error
    print(
        f"scored {summary['rows']} cases in {summary['seconds']:.1f} s "
        f"({summary['rows_per_second']:.0f} cases/s) with {summary['stream_model']} "
        f"and {summary['assets_model']} -> {args.out}"
    )
    if args.results:
        from app.files import write_atomically

        write_atomically(args.results, json.dumps(summary, indent=2))
    return 0


def _score_on_cluster(args: argparse.Namespace) -> dict[str, object]:
    """`triage score --cluster`: the same scoring, one input file per task on the workers."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as error:  # the `cluster` extra is not installed
        raise CommandError(
            f"--cluster needs Dask ({error.name} is missing): install enforcement-triage[cluster]"
        ) from error
    from training.cluster_score import ClusterCaseDataError, connect, score_on_cluster

    try:
        with connect(args.cluster) as client:
            summary = score_on_cluster(
                args.data, args.out, client=client, chunk_rows=args.chunk_rows, reasons=args.reasons
            )
    except ClusterCaseDataError as error:
        raise CommandError(f"refused, nothing written under {args.out}:\n{error}") from error
    except (LookupError, FileNotFoundError, ValueError, OSError) as error:
        raise CommandError(f"refused, nothing written: {error}") from error
    except ImportError as error:  # a URL whose filesystem package (s3fs, gcsfs…) is missing
        raise CommandError(f"refused, nothing written: {error}") from error
    ignored = summary["ignored_columns"]
    if isinstance(ignored, list) and ignored:  # as the single process warns of them
        print(f"unknown columns ignored: {', '.join(ignored)}", file=sys.stderr)
    return summary


def _follow_up(args: argparse.Namespace) -> int:
    from features.load import CaseDataError
    from training.follow_up import follow_up_file

    _logging()
    try:
        summary = follow_up_file(
            args.data, args.out, budget=args.budget, court=args.court, reasons=args.reasons
        )
    except CaseDataError as error:
        raise CommandError(f"refused, nothing written:\n{error}") from error
    except (LookupError, ValueError) as error:
        raise CommandError(f"refused, nothing written: {error}") from error
    court = f" of court {summary['court']}" if summary["court"] else ""
    print(summary["notice"])
    print(
        f"{summary['kept']} of {summary['inventory']} terminated cases{court} listed for "
        f"follow-up, expected ¥{summary['expected_yuan']:,.0f} in all, with "
        f"{summary['resume_model']} and {summary['recovery_model']} -> {args.out}"
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    from models import registry

    registry.configure_mlflow()
    try:
        registry.kind_of(args.model)
        move = registry.promote(args.model, args.version, args.reason, command="triage promote")
    except (LookupError, ValueError) as error:
        raise CommandError(f"refused, champion unchanged: {error}") from error
    print(f"{args.model}@champion: {move_line(move)}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from models import registry

    registry.configure_mlflow()
    try:
        registry.kind_of(args.model)
        move = registry.rollback(args.model, args.reason, command="triage rollback")
    except (LookupError, ValueError) as error:
        raise CommandError(f"refused, champion unchanged: {error}") from error
    print(f"{args.model}@champion: {move_line(move)}")
    return 0


def move_line(move) -> str:
    """One alias move as the commands print it."""
    return f"version {move.previous or '-'} -> {move.version} ({move.reason})"


def _models(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from models import registry

    registry.configure_mlflow()
    names = list(registry.model_names(get_settings()).values())
    if args.model:
        try:
            registry.kind_of(args.model)
        except ValueError as error:
            raise CommandError(str(error)) from error
        names = [args.model]
    for name in names:
        versions = registry.versions_with_aliases(name)
        history = registry.alias_history(name) if versions else []
        print("\n".join(model_lines(name, versions, history, with_history=args.history)))
    return 0


def model_lines(name, versions, history, *, with_history: bool) -> list[str]:
    """What `triage models` prints of one model: versions and aliases, and the alias history.

    The history is newest first: the move an operator asks about is usually the last.
    """
    lines = [f"{name}:"]
    if not versions:
        return [*lines, "  no versions yet: train with `triage train --data CASES.csv`"]
    for version in versions:
        aliases = ",".join(version.aliases) or "-"
        lines.append(f"  version {version.version:>3}  aliases {aliases:<20} run {version.run_id}")
    if not with_history:
        lines.append(f"  {len(history)} alias moves recorded: `triage models --history` lists them")
        return lines
    lines.append("  alias history, newest first:")
    for move in reversed(history):
        lines.append(
            f"  {move.time}  {move.alias:<10} {move.previous or '-':>3} -> {move.version:<3} "
            f"by {move.actor or 'unknown'} ({move.command or 'unknown command'}): {move.reason}"
        )
    return lines
