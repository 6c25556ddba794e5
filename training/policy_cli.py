"""`triage policy`: set, show, withdraw and list the routing policies of courts.

``triage policy set --court 440305 --max-review 0.10 --reason …`` gives a
court (or a province, or with neither the whole country) a policy of its
own; ``show`` prints the policy in force for a court, where it comes from,
its version and the thresholds it gives with the current champion, with the
review share and error rates they predict; ``history`` lists every change.
The policies live in the registry (:mod:`models.policy_store`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import CommandError

#: The policy fields `triage policy set` takes, as (option, field, help).
_FIELDS = (
    ("--max-review", "max_review", "largest share of new cases the review desk can take, (0, 1]"),
    (
        "--review-per-day",
        "review_per_day",
        "the review capacity in cases a day instead (a positive number, or 'none'): the service "
        "divides it by the court's intake over the last 28 days of the decision log; "
        "--max-review applies until that intake is known",
    ),
    (
        "--cost-complex-to-simple",
        "cost_complex_to_simple",
        "days lost when a complex case is routed simple (default 10)",
    ),
    (
        "--cost-simple-to-complex",
        "cost_simple_to_complex",
        "days of specialist work spent on a simple case routed complex (default 2)",
    ),
    ("--cost-review", "cost_review", "days of work of one review (default 0.25)"),
    (
        "--max-complex-to-simple",
        "max_complex_to_simple",
        "hard limit on the share of complex cases routed simple, or 'none'",
    ),
    (
        "--max-simple-to-complex",
        "max_simple_to_complex",
        "hard limit on the share of simple cases routed complex, or 'none'",
    ),
    (
        "--gives-way",
        "gives_way",
        "what yields when capacity and limits cannot all hold: error_limits or capacity",
    ),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``policy`` (``set``, ``show``, ``history``, ``clear``) to ``triage``."""
    policy = subparsers.add_parser(
        "policy", help="routing policies per court: review capacity, costs, limits"
    )
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    set_ = actions.add_parser(
        "set", help="give a court, a province or the country a policy of its own"
    )
    _scope_options(set_)
    for option, field, text in _FIELDS:
        set_.add_argument(option, dest=field, metavar="VALUE", help=text)
    set_.add_argument("--reason", default="", help="why, as the policy history records it")
    set_.set_defaults(handler=_set)

    show = actions.add_parser("show", help="the policy in force and the thresholds it gives")
    _scope_options(show)
    show.add_argument("--json", action="store_true", help="print it as JSON")
    show.set_defaults(handler=_show)

    history = actions.add_parser("history", help="every policy change, newest first")
    _scope_options(history, all_by_default=True)
    history.set_defaults(handler=_history)

    clear = actions.add_parser(
        "clear", help="withdraw a court's or province's own policy (the one above applies)"
    )
    _scope_options(clear)
    clear.add_argument("--reason", default="", help="why, as the policy history records it")
    clear.set_defaults(handler=_clear)


def _scope_options(parser: argparse.ArgumentParser, *, all_by_default: bool = False) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--court", help="a court code (6 characters, e.g. 440305)")
    where.add_argument("--province", help="a province code (GB/T 2260, e.g. 44)")
    if all_by_default:
        where.add_argument(
            "--national", action="store_true", help="only the national default's changes"
        )


def _scope(args: argparse.Namespace) -> Any:
    from models.policy import PolicyError
    from models.policy_book import scope_of

    try:
        return scope_of(court=args.court, province=args.province)
    except PolicyError as error:
        raise CommandError(str(error)) from error


def _set(args: argparse.Namespace) -> int:
    from models import registry
    from models.policy import PolicyError
    from models.policy_store import set_policy

    scope = _scope(args)
    changes: dict[str, object] = {}
    for _, field, _ in _FIELDS:
        value = getattr(args, field)
        if value is not None:
            unset = field.startswith(("max_complex", "max_simple", "review_per_day"))
            changes[field] = None if unset and value.lower() in ("none", "off") else value
    if not changes:
        raise CommandError("give at least one field to change (`triage policy set --help`)")
    registry.configure_mlflow()
    try:
        change = set_policy(scope, changes, args.reason, command="triage policy set")
    except (PolicyError, LookupError) as error:
        raise CommandError(f"refused, policy unchanged: {error}") from error
    print(f"{change.label} set ({', '.join(f'{k}={v}' for k, v in changes.items())})")
    return 0


def _clear(args: argparse.Namespace) -> int:
    from models import registry
    from models.policy import PolicyError
    from models.policy_store import withdraw_policy

    scope = _scope(args)
    registry.configure_mlflow()
    try:
        change = withdraw_policy(scope, args.reason, command="triage policy clear")
    except (PolicyError, LookupError) as error:
        raise CommandError(f"refused, policy unchanged: {error}") from error
    print(f"{change.label}: own policy withdrawn")
    return 0


def _show(args: argparse.Namespace) -> int:
    from models import registry
    from models.policy_store import champion_summary, read_book

    scope = _scope(args)
    registry.configure_mlflow()
    book = read_book()
    resolved = book.resolve_scope(scope)
    try:
        champion = champion_summary()
    except LookupError:
        champion = None
    report = policy_report(scope, resolved, champion)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print("\n".join(report_lines(report)))
    return 0


def policy_report(scope: Any, resolved: Any, champion: Any) -> dict[str, Any]:
    """What `triage policy show` says, as a JSON-able dict (pure)."""
    from models.policy import thresholds_for

    change = resolved.change
    report: dict[str, Any] = {
        "for": scope.policy_id,
        "policy_id": resolved.policy_id,
        "version": resolved.version,
        "source": resolved.label,
        "set": None
        if change is None
        else {"time": change.time, "actor": change.actor, "reason": change.reason},
        "policy": resolved.policy.model_dump(),
        "model": None,
    }
    if champion is None:
        report["model"] = {"problem": "no champion stream model: train one with `triage train`"}
        return report
    model: dict[str, Any] = {"name": champion.name, "version": champion.version}
    summary = champion.metadata.validation_scores
    if summary is None:
        model["problem"] = (
            "this version was trained before court policies and keeps no summary of its "
            "validation scores: it routes with its own thresholds; retrain to apply policies"
        )
    else:
        result = thresholds_for(summary, resolved.policy)
        model |= result.to_dict() | {"validation_cases": round(summary.n)}
    report["model"] = model
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """`triage policy show`'s text."""
    lines = [f"policy for {report['for']}: {report['source']}"]
    if report["set"]:
        made = report["set"]
        lines.append(
            f"  set {made['time']} by {made['actor'] or 'unknown'}: {made['reason'] or '-'}"
        )
    for field, value in report["policy"].items():
        lines.append(f"  {field:<24} {_shown(field, value)}")
    model = report["model"]
    if "problem" in model:
        where = f"{model['name']} v{model['version']}: " if "name" in model else ""
        return [*lines, f"{where}{model['problem']}"]
    t, p = model["thresholds"], model["predicted"]
    if report["policy"].get("review_per_day") is not None:
        lines.append(
            f"  the service reviews {report['policy']['review_per_day']:g} cases a day of each "
            "court's intake (last 28 days of its decision log); predicted here at max_review "
            f"{report['policy']['max_review']:.1%}, which applies until a court's intake is known"
        )
    lines += [
        f"with {model['name']} v{model['version']} (champion): simple below "
        f"{t['simple_below']:.4f}, complex from {min(t['complex_from'], 1.0):.4f}",
        f"  predicted from {model['validation_cases']:,} validation cases: "
        f"simple {p['share_simple']:.1%} · review {p['share_review']:.1%} · "
        f"complex {p['share_complex']:.1%}",
        f"  complex → simple {p['complex_to_simple']:.1%} · simple → complex "
        f"{p['simple_to_complex']:.1%} · expected cost {p['expected_cost_days']:.3f} days a case",
    ]
    lines += [f"  {line}" for line in model["gave_way"]]
    return lines


def _shown(field: str, value: object) -> str:
    if value is None:
        return "unset"
    if field.startswith("cost_"):
        return f"{value:g} days"
    if field == "review_per_day" and isinstance(value, int | float):
        return f"{value:g} cases a day"
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def _history(args: argparse.Namespace) -> int:
    from models import registry
    from models.policy_book import NATIONAL
    from models.policy_store import read_book

    scope = NATIONAL if args.national else None
    if args.court or args.province:
        scope = _scope(args)
    registry.configure_mlflow()
    changes = read_book().history(scope)
    if not changes:
        where = "" if scope is None else f" for {scope.policy_id}"
        print(f"no policy changes{where}: the built-in national default applies")
        return 0
    for change in reversed(changes):
        print(history_line(change))
    return 0


def history_line(change: Any) -> str:
    """One policy change as `triage policy history` prints it: what changed, who, when, why."""
    if change.policy is None:
        what = "own policy withdrawn"
    else:
        before = {} if change.previous is None else change.previous.model_dump()
        changed = [
            f"{k} {_shown(k, before[k]) if k in before else '-'} → {_shown(k, v)}"
            for k, v in change.policy.model_dump().items()
            if before.get(k, object()) != v
        ]
        what = "; ".join(changed) or "no field changed"
    if change.previous_source:
        what += f" (was {change.previous_source})"
    return (
        f"{change.time}  {change.label:<20} by {change.actor or 'unknown'} "
        f"({change.command or 'unknown command'}): {what} — {change.reason or 'no reason given'}"
    )
