"""`triage score --cluster`: the files of an export scored on a Dask cluster.

The single-process path (:mod:`training.score`) stays the default; this one
spreads the same work over the workers of a Dask cluster (a ``LocalCluster``
on this machine, or a court's own scheduler):

* **a partition is one input file** (CSV or Parquet, a local path, a glob or
  an fsspec URL).  Each is read on a worker by the project's own loader
  (:func:`features.load.iter_cases`, in chunks, so a worker's memory stays
  flat) with the same rules and the same report as one process: rows are
  numbered within their file, which a byte-range split of a CSV could not
  know without reading everything before it.  An export split into files
  (per court, per month) is as parallel as it has files;
* **the models travel once per worker**: the client scatters them with
  ``broadcast=True`` and every task names that one future, so no task
  carries them;
* **each worker writes its part** (``part-00000.parquet`` for the first file)
  into a staging folder beside ``--out``, through fsspec, so ``--out`` may be
  an object-store URL (``s3://bucket/scores``) as well as a folder; only
  reports and row counts come back to the client;
* **``case_id`` is unique across the whole input**, as within one file: the
  parts' ids are counted with ``dask.dataframe`` on the cluster, only
  repeated ids come back;
* **nothing is published unless everything passed**: every problem of every
  file is gathered, the staging folder removed, and ``--out`` left as it was.
  Otherwise the manifest is written last into the staging folder, which is
  then renamed onto ``--out`` (a local path).  An ``--out`` given as a URL
  (``file://`` included) has no rename of a whole prefix: the old manifest is
  removed first, the parts moved, and the manifest moved in last, so a reader
  must trust only a prefix that holds ``_manifest.json`` (see :func:`_publish_prefix`).

The input fingerprint in the manifest is the SHA-256 of each input file's
URL, size and modification time (what the filesystem reports: ``mtime``,
``LastModified`` or ``ETag``), not of its contents: it tells a re-run on
changed files from one on the same files without reading the export twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from app.files import file_format
from app.settings import TriageSettings, get_settings
from features.load import (
    SHOWN_PROBLEMS,
    WHOLE_FILE,
    CaseDataError,
    Problem,
    ValidationReport,
    iter_cases,
)
from models.court_routing import CourtRouter
from models.policy_book import PolicyBook
from models.triage import Triage

if TYPE_CHECKING:
    import pyarrow as pa
    from distributed import Client, Future
    from fsspec import AbstractFileSystem

#: The manifest's name inside ``--out``; written last, so a folder with it is complete.
MANIFEST = "_manifest.json"
MANIFEST_FORMAT = "triage-scores/1"

#: The staging folder's subfolder of each file's case ids (removed before publishing).
_IDS = ".ids"

#: What `triage score --cluster` writes under ``--out``: a URL prefix holding only these
#: may be replaced (a failed publish leaves parts without a manifest, and a re-run must mend it).
_OURS = re.compile(r"part-\d{5}\.parquet|" + re.escape(MANIFEST))

#: What a filesystem may report as a file's version, most telling first.
_VERSION_KEYS = ("mtime", "LastModified", "last_modified", "ETag", "etag", "created")


@dataclass(frozen=True)
class InputFile:
    """One file of the export: one partition of the work."""

    index: int
    #: A URL every worker can open (``file://…`` for a local path).
    url: str
    #: How the user would name it in a report: the path for a local file, else the URL.
    source: str
    size: int
    version: str

    @property
    def part_name(self) -> str:
        return f"part-{self.index:05d}.parquet"


@dataclass
class PartResult:
    """What a worker reports of one file: its report and the rows it wrote."""

    index: int
    source: str
    rows: int
    report: ValidationReport
    part: str | None = None


@dataclass(frozen=True)
class Scorer:
    """What every worker needs to score: both models and the policy book."""

    triage: Triage
    book: PolicyBook = field(default_factory=PolicyBook)

    @functools.cached_property
    def router(self) -> CourtRouter:
        """The court router, built on the worker at its first task and kept for the next.

        It resolves each court's policy once and remembers it; a router per
        task resolved every court again for every file (~1,000 courts, 0.15 ms
        each), a cost per file that an export of many small files paid many times.
        """
        return CourtRouter(self.book, self.triage.stream)


class ClusterCaseDataError(ValueError):
    """Problems in one or more files of the input; carries each file's report."""

    def __init__(self, reports: list[ValidationReport]):
        self.reports = reports
        super().__init__(
            f"{sum(r.n_problems for r in reports)} problem(s) in {len(reports)} file(s):\n"
            + "\n".join(report.render() for report in reports)
        )


# --------------------------------------------------------------------------
# The input: files, and their fingerprint
# --------------------------------------------------------------------------


def find_inputs(data: str) -> list[InputFile]:
    """The CSV and Parquet files ``data`` names: a path, a folder, a glob or an fsspec URL.

    A folder gives its ``.csv`` and ``.parquet`` files (hidden and ``_``-files
    left out, as Spark's ``_SUCCESS``); a glob or a single file with another
    extension is refused.  Sorted, so parts and duplicate checks follow one order.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(data)
    if fsspec.core.has_magic(root):
        paths = sorted(fs.glob(root))
    elif fs.isdir(root):
        paths = sorted(
            p
            for p in fs.find(root)
            if not Path(p).name.startswith((".", "_"))
            and Path(p).suffix.lower() in {".csv", ".parquet", ".pq"}
        )
    elif fs.exists(root):
        paths = [root]
    else:
        raise FileNotFoundError(f"{data}: no such file or folder")
    if not paths:
        raise FileNotFoundError(f"{data}: no CSV or Parquet file matches")
    local = _is_local(fs)
    files = []
    for index, path in enumerate(paths):
        file_format(path)  # an unknown extension is refused before any work starts
        info = fs.info(path)
        version = next((str(info[k]) for k in _VERSION_KEYS if info.get(k) is not None), "")
        url = fs.unstrip_protocol(path)
        files.append(
            InputFile(
                index=index,
                url=url,
                source=path if local else url,
                size=int(info.get("size") or 0),
                version=version,
            )
        )
    return files


def input_fingerprint(files: list[InputFile]) -> str:
    """``sha256:…`` of each file's URL, size and version, in order."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(json.dumps([file.url, file.size, file.version]).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def _is_local(fs: object) -> bool:
    protocol = getattr(fs, "protocol", "")
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "file" in protocols or "local" in protocols


# --------------------------------------------------------------------------
# On a worker: one file read, validated, scored and written
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _local_copy(file: InputFile) -> Iterator[str]:
    """A local path of the file: itself when local, else a copy in a temporary folder."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(file.url)
    if _is_local(fs):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="triage-part-") as folder:
        local = os.path.join(folder, Path(path).name)
        fs.get_file(path, local)
        yield local


def score_part(
    file: InputFile, scorer: Scorer, staging: str, *, reasons: int, chunk_rows: int
) -> PartResult:
    """Read, validate and score one file on a worker; write its part into ``staging``.

    ``staging`` is a local path or an fsspec URL: the worker writes there
    itself, so the parts never pass through the client.  As the single
    process does: once a chunk has a problem, the rest of the file is still
    validated (not scored), and the part is removed, so the report lists every
    problem of the file and nothing of it is kept.  The ``case_id`` of every
    row read goes to ``staging/.ids/`` (a bad file's too), for the check
    across files.
    """
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.score import OUTPUT_SCHEMA

    fs, folder = fsspec.core.url_to_fs(staging)
    report = ValidationReport(source=file.source)
    router = scorer.router
    part = posixpath.join(folder, file.part_name)
    rows = 0
    with (
        fs.open(part, "wb") as part_file,
        fs.open(posixpath.join(folder, _IDS, file.part_name), "wb") as ids_file,
        pq.ParquetWriter(part_file, OUTPUT_SCHEMA) as writer,
        pq.ParquetWriter(ids_file, _ids_schema()) as ids,
    ):
        try:
            with _local_copy(file) as local:
                for frame, chunk in iter_cases(local, chunk_rows=chunk_rows, warn_ignored=False):
                    report.merge(chunk)
                    ids.write_table(pa.table({"case_id": pa.array(frame["case_id"], pa.string())}))
                    if not report.ok:
                        continue
                    routing = router.routing(frame["court_id"].astype(str).tolist())
                    decisions = scorer.triage.decide_frame(frame, reasons=reasons, routing=routing)
                    table = pa.Table.from_pandas(
                        decisions, schema=OUTPUT_SCHEMA, preserve_index=False
                    )
                    writer.write_table(table)
                    rows += len(frame)
        except CaseDataError as error:  # no header, not UTF-8, ragged rows, not Parquet
            report.merge(error.report)
        except (OSError, ValueError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            report.add([Problem(field=WHOLE_FILE, message=f"cannot be read: {message}")])
    if not report.ok:
        fs.rm_file(part)
        return PartResult(file.index, file.source, 0, report)
    return PartResult(file.index, file.source, rows, report, file.part_name)


def _ids_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("case_id", pa.string())])


def _part_case_ids(part: tuple[int, str]) -> pd.DataFrame:
    """The ``case_id`` of each row a worker read, with the file's index and the row (1-based)."""
    import fsspec
    import numpy as np
    import pyarrow.parquet as pq

    index, url = part
    with fsspec.open(url, "rb") as file:
        ids = pq.read_table(file, columns=["case_id"]).column("case_id").to_pandas()
    return pd.DataFrame(
        {
            "case_id": ids.astype("string[pyarrow]"),
            "part": np.full(len(ids), index, dtype="int64"),
            "row": np.arange(1, len(ids) + 1, dtype="int64"),
        }
    )


# --------------------------------------------------------------------------
# On the client
# --------------------------------------------------------------------------


def repeated_case_ids(
    client: Client, files: list[InputFile], staging: str
) -> dict[int, list[Problem]]:
    """``duplicate case_id`` problems across the files, by file index.

    The ids are counted on the cluster; only ids seen more than once come
    back, then the rows holding them.  The first occurrence in input order is
    the case, every later one a duplicate, as in one file: the loader reports
    the repeats within a file, this the rest.
    """
    import dask
    import dask.dataframe as dd

    written = [(f.index, f"{staging}/{_IDS}/{f.part_name}") for f in files]
    if len(written) < 2:
        return {}  # within a file the loader already checked
    meta = pd.DataFrame(
        {
            "case_id": pd.Series(dtype="string[pyarrow]"),
            "part": pd.Series(dtype="int64"),
            "row": pd.Series(dtype="int64"),
        }
    )
    ids = dd.from_map(_part_case_ids, written, meta=meta, enforce_metadata=False)
    # The task-based shuffle: the peer-to-peer one logs a warning per use on
    # the scheduler, and the counts are one column of short strings.
    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        counts = ids["case_id"].value_counts()
        repeated = client.compute(counts[counts > 1]).result()
    if repeated.empty:
        return {}
    wanted = set(repeated.index.tolist())
    rows = client.compute(ids[ids["case_id"].isin(wanted)]).result()
    rows = rows.sort_values(["part", "row"], kind="stable")
    # The loader flagged every repeat within a file; here, the first row of an
    # id in each file after the first file holding it.
    first_in_file = rows.drop_duplicates(["case_id", "part"], keep="first")
    later = first_in_file[first_in_file["case_id"].duplicated(keep="first")]
    problems: dict[int, list[Problem]] = {}
    for case_id, part, row in later.itertuples(index=False):
        problems.setdefault(int(part), []).append(
            Problem(field="case_id", message="duplicate case_id", row=int(row), case_id=case_id)
        )
    return problems


def _add_repeated(report: ValidationReport, problems: list[Problem]) -> None:
    """Add duplicates to a file's report, keeping as many as a report shows."""
    report.add(problems[:SHOWN_PROBLEMS], total=len(problems))


@contextlib.contextmanager
def connect(cluster: str) -> Iterator[Client]:
    """A client of ``cluster``: ``local`` starts a ``LocalCluster`` sized to this machine.

    The local cluster runs one single-threaded worker process per core: the
    models score with one LightGBM thread each, so a core runs one task, and
    processes keep pandas' and the loader's Python code off each other's GIL.
    """
    from distributed import Client, LocalCluster

    if cluster != "local":
        with Client(cluster) as client:
            yield client
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with (
        LocalCluster(
            n_workers=cores or 1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        yield client


@dataclass(frozen=True)
class Destination:
    """``--out`` and the staging folder beside it, on one filesystem (paths without protocol)."""

    fs: AbstractFileSystem
    path: str
    staging: str
    #: A local path is published by renaming the staging folder; a URL by its manifest, last.
    by_rename: bool

    def url(self, path: str) -> str:
        """What a worker opens for ``path``: the path itself when local, else its URL."""
        return path if self.by_rename else str(self.fs.unstrip_protocol(path))


def destination(out: str | Path) -> Destination:
    """Where ``--out`` is: a local folder, or an fsspec URL (``s3://bucket/scores``, ``file://…``).

    The staging folder is its sibling (``.NAME.staging-…``), so that on a local
    disk the rename that publishes stays on one filesystem.
    """
    import fsspec

    text = str(out)
    protocol, _ = fsspec.core.split_protocol(text)
    if protocol is None:
        fs, path = fsspec.filesystem("file"), str(Path(text).absolute())
    else:
        fs, path = fsspec.core.url_to_fs(text)
        path = path.rstrip("/")
    parent, name = posixpath.split(path)
    if not name or not parent:
        raise ValueError(f"{out}: give a folder or a prefix inside a bucket, not its root")
    staging = posixpath.join(parent, f".{name}.staging-{uuid.uuid4().hex[:12]}")
    return Destination(fs=fs, path=path, staging=staging, by_rename=protocol is None)


def _check_out(out: Destination, given: str) -> None:
    """Refuse an ``--out`` that holds something other than an earlier run's scores."""
    fs, path = out.fs, out.path
    if fs.exists(path) and not fs.isdir(path):
        raise ValueError(f"{given}: exists and is not a folder; give a folder for the parts")
    if not fs.isdir(path):
        return
    if out.by_rename:
        if fs.ls(path) and not fs.exists(posixpath.join(path, MANIFEST)):
            raise ValueError(
                f"{given}: a folder that holds other files (no {MANIFEST}); "
                "give an empty or new folder, or one an earlier `triage score --cluster` wrote"
            )
        return
    # Replaced file by file (see _publish_prefix): only what a run writes may be there.
    others = [p for p in fs.find(path) if not _OURS.fullmatch(posixpath.relpath(p, path))]
    if others:
        raise ValueError(
            f"{given}: a prefix that holds other files ({posixpath.relpath(others[0], path)}); "
            "give an empty or new prefix, or one an earlier `triage score --cluster` wrote"
        )


def _publish(out: Destination, parts: list[str]) -> None:
    """Put the staging folder's parts and manifest in place of ``out``."""
    if not out.by_rename:
        _publish_prefix(out.fs, out.staging, out.path, parts)
        return
    if not os.path.exists(out.path):
        os.rename(out.staging, out.path)
        return
    retired = f"{out.staging}.old"
    os.rename(out.path, retired)
    os.rename(out.staging, out.path)
    shutil.rmtree(retired, ignore_errors=True)


def _publish_prefix(fs: AbstractFileSystem, staging: str, out: str, parts: list[str]) -> None:
    """Publish under a URL, where no rename shows a reader the new parts all at once.

    Object stores move a file by copying it, so the manifest is what
    publishes: the old one goes first (from then on ``out`` is not to be
    trusted), then the old parts, then the new parts move in, and the new
    manifest last.  A failure half-way leaves parts without a manifest, which
    a reader must ignore and a re-run replaces.
    """
    manifest = posixpath.join(out, MANIFEST)
    fs.invalidate_cache(out)  # the listing _check_out read may be cached
    if fs.exists(manifest):
        fs.rm_file(manifest)
    old = fs.find(out)
    if old:
        fs.rm(old)
    fs.makedirs(out, exist_ok=True)
    for name in parts:
        fs.mv(posixpath.join(staging, name), posixpath.join(out, name))
    fs.mv(posixpath.join(staging, MANIFEST), manifest)
    fs.rm(staging, recursive=True)


def _remove_staging(out: Destination) -> None:
    with contextlib.suppress(FileNotFoundError):
        out.fs.rm(out.staging, recursive=True)


def score_on_cluster(
    data: str,
    out: str | Path,
    *,
    client: Client,
    chunk_rows: int = 50_000,
    reasons: int = 3,
    triage: Triage | None = None,
    book: PolicyBook | None = None,
    settings: TriageSettings | None = None,
    progress: bool | None = None,
) -> dict[str, object]:
    """Score every file ``data`` names on ``client``'s cluster; publish parts under ``out``.

    Same models, policies and rules as :func:`training.score.score_file`
    (with a ``triage`` given, no policy unless ``book`` is given too).
    Raises :class:`ClusterCaseDataError` with every file's report when any
    row of any file breaks the record; ``out`` is then left as it was.
    ``out`` is a folder the workers and this process both see, or an fsspec
    URL they can all write to (published manifest last, see :func:`_publish_prefix`).
    """
    from distributed import as_completed
    from tqdm import tqdm

    settings = settings or get_settings()
    target = destination(out)
    _check_out(target, str(out))
    files = find_inputs(str(data))
    if triage is None:
        from models import registry
        from models.policy_store import read_book

        registry.configure_mlflow(settings)
        # One LightGBM thread per task: the cluster's parallelism is its workers' threads.
        triage = Triage.from_registry(threads=1)
        book = read_book(settings) if book is None else book
        for refused in book.refused:
            print(f"policy tag {refused.key} refused: {refused.error}", file=sys.stderr)
    book = PolicyBook() if book is None else book
    started = time.monotonic()
    workers = client.scheduler_info()["workers"]
    [scorer] = client.scatter([Scorer(triage=triage, book=book)], broadcast=True)
    staging = target.url(target.staging)
    target.fs.makedirs(posixpath.join(target.staging, _IDS), exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    futures: list[Future[PartResult]] = []
    try:
        futures = client.map(
            score_part,
            files,
            scorer=scorer,
            staging=str(staging),
            reasons=reasons,
            chunk_rows=chunk_rows,
            key=[f"score-part-{posixpath.basename(target.staging)}-{f.index}" for f in files],
        )
        results: list[PartResult] = []
        with tqdm(
            total=sum(f.size for f in files),
            unit="B",
            unit_scale=True,
            desc="scoring",
            disable=not show,
            file=sys.stderr,
        ) as bar:
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                bar.update(files[result.index].size)
        results.sort(key=lambda r: r.index)
        for index, problems in repeated_case_ids(client, files, staging).items():
            _add_repeated(results[index].report, problems)
        bad = [r.report for r in results if not r.report.ok]
        if bad:
            raise ClusterCaseDataError(bad)
        rows = sum(r.rows for r in results)
        seconds = time.monotonic() - started
        target.fs.rm(posixpath.join(target.staging, _IDS), recursive=True)
        manifest = _manifest(files, results, triage, book, reasons, workers)
        target.fs.pipe_file(
            posixpath.join(target.staging, MANIFEST),
            (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode(),
        )
        _publish(target, [f.part_name for f in files])
    except BaseException:
        client.cancel(futures)  # no task writes into the staging folder once it is gone
        _remove_staging(target)
        raise
    from training.score import scoring_summary

    return scoring_summary(triage, book, rows, seconds) | {
        "files": len(files),
        "workers": len(workers),
        "threads": sum(w.get("nthreads", 0) for w in workers.values()),
        "ignored_columns": sorted({c for r in results for c in r.report.ignored_columns}),
        "out": target.path if target.by_rename else str(out),
    }


def _manifest(
    files: list[InputFile],
    results: list[PartResult],
    triage: Triage,
    book: PolicyBook,
    reasons: int,
    workers: dict[str, dict[str, object]],
) -> dict[str, object]:
    """What was scored, with what, into which parts (no case data)."""
    return {
        "format": MANIFEST_FORMAT,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": sum(r.rows for r in results),
        "parts": [
            {"file": files[r.index].part_name, "rows": r.rows, "source": r.source} for r in results
        ],
        "models": {
            "stream": {"name": triage.stream.name, "version": triage.stream.version},
            "assets": {"name": triage.assets.name, "version": triage.assets.version},
        },
        "policies_set": len(book.scopes()),
        "reasons": reasons,
        "input": {
            "files": len(files),
            "bytes": sum(f.size for f in files),
            "fingerprint": input_fingerprint(files),
            "fingerprint_of": "each input file's URL, size and modification time, in order",
        },
        "cluster": {
            "workers": len(workers),
            "threads": sum(int(str(w.get("nthreads", 0))) for w in workers.values()),
        },
    }
