"""Subcommands of the ``features`` package: ``triage validate`` and ``triage generate``."""

from __future__ import annotations

import argparse

from app.cli import CommandError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of the ``features`` package: ``validate`` and ``generate``."""
    validate = subparsers.add_parser(
        "validate", help="check a case export against the case-record contract"
    )
    validate.add_argument("--data", required=True, help="CSV or Parquet file of cases")
    validate.add_argument(
        "--kind",
        choices=("case", "terminated"),
        default="case",
        help="the record the file holds: new cases (default) or terminated (终本) cases",
    )
    validate.add_argument(
        "--labels", action="store_true", help="require the outcome columns (training data)"
    )
    validate.add_argument("--results", help="also write the report as JSON to this path")
    validate.set_defaults(handler=_validate)

    generate = subparsers.add_parser("generate", help="write synthetic cases with known truth")
    generate.add_argument("--n", type=int, required=True, help="number of cases")
    generate.add_argument(
        "--kind",
        choices=("case", "terminated"),
        default="case",
        help="new cases (default) or terminated (终本) cases with follow-up outcomes",
    )
    generate.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    generate.add_argument(
        "--truth",
        help="also write each case's truth: case_id, p_complex_true, p_assets_true, "
        "expected_recovery_true (yuan); for "
        "terminated cases p_recover_true, expected_amount_true, expected_yuan_true, "
        "p_recover_unfollowed_true",
    )
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--with-pii", action="store_true", help="add personal-data columns (to test the drop)"
    )
    generate.add_argument(
        "--start",
        help="first filing date (default 2021-01-01); for terminated cases the first "
        "as_of_date (default 2023-01-01)",
    )
    generate.add_argument("--end", default="2024-12-31", help="last filing or as_of date")
    generate.set_defaults(handler=_generate)


def _validate(args: argparse.Namespace) -> int:
    from features.load import validate_file
    from features.terminated import CONTRACTS

    report = validate_file(args.data, require_labels=args.labels, contract=CONTRACTS[args.kind])
    print(report.render())
    if args.results:
        report.write_json(args.results)
    return 0 if report.ok else 1


def _generate(args: argparse.Namespace) -> int:
    from features.synthetic import GeneratorConfig, write_synthetic

    if args.n < 1:
        raise CommandError(f"--n must be at least 1, got {args.n}")
    if args.kind == "terminated":
        return _generate_terminated(args)
    try:
        config = GeneratorConfig(start=args.start or "2021-01-01", end=args.end)
        write_synthetic(
            n=args.n,
            out=args.out,
            truth=args.truth,
            seed=args.seed,
            with_pii=args.with_pii,
            config=config,
        )
    except ValueError as error:  # pydantic's ValidationError is one too
        raise CommandError(str(error)) from error
    return 0


def _generate_terminated(args: argparse.Namespace) -> int:
    from features.synthetic.terminated import TerminatedConfig, write_terminated

    try:
        config = TerminatedConfig(start=args.start or "2023-01-01", end=args.end)
        write_terminated(
            n=args.n,
            out=args.out,
            truth=args.truth,
            seed=args.seed,
            with_pii=args.with_pii,
            config=config,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    return 0
