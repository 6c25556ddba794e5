"""`triage score --cluster` on a real 2-worker LocalCluster: same answers, nothing on bad input.

One cluster of two single-threaded worker processes and one registry (small
champions, a court policy) per module; the files are scored through the
`triage` command, on the cluster and in one process, and compared row by row.
Run with ``--dist loadfile``.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from features.record import PII_FIELDS
from features.synthetic import generate_cases, write_synthetic
from models import registry
from tests.conftest import triage_home
from tests.serving.registry_fixture import pin_aliases, register_models
from training.cluster_score import MANIFEST, Scorer, find_inputs, input_fingerprint

pytestmark = pytest.mark.slow

#: Rows of each partition file: four files, the third with personal-data columns.
PART_ROWS = (900, 700, 800, 600)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, as `--cluster local` starts on two cores."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Champions in a registry of the module's own, and a policy for the busiest court."""
    with triage_home(tmp_path_factory.mktemp("cluster-home")) as home:
        registry.configure_mlflow()
        pin_aliases(register_models(seed=3, n=2500), "champion")
        yield home


@pytest.fixture(scope="module")
def export(home, tmp_path_factory) -> tuple[Path, Path]:
    """The same cases as a folder of partition files (CSV and Parquet) and as one CSV."""
    folder = tmp_path_factory.mktemp("export")
    parts = folder / "parts"
    parts.mkdir()
    scratch = folder / "scratch.csv"
    generate_cases(sum(PART_ROWS) - PART_ROWS[2], seed=11).cases.to_csv(scratch, index=False)
    cases = pd.read_csv(scratch, dtype=str, keep_default_na=False)  # what the file says
    write_synthetic(PART_ROWS[2], scratch, seed=12, with_pii=True)
    pii = pd.read_csv(scratch, dtype=str, keep_default_na=False)
    pii["case_id"] = "P-" + pii["case_id"]  # the two generators' ids must not collide
    first, second, fourth = (
        cases.iloc[: PART_ROWS[0]],
        cases.iloc[PART_ROWS[0] : PART_ROWS[0] + PART_ROWS[1]],
        cases.iloc[PART_ROWS[0] + PART_ROWS[1] :],
    )
    first.to_csv(parts / "2024-01.csv", index=False)
    second.to_parquet(parts / "2024-02.parquet", index=False)  # text columns, as a CSV reads
    pii.to_csv(parts / "2024-03.csv", index=False)
    fourth.to_csv(parts / "2024-04.csv", index=False)
    (parts / "_SUCCESS").write_text("")  # what Spark leaves beside its parts: not an input
    whole = folder / "all.csv"
    pd.concat([first, second, pii, fourth]).fillna("").to_csv(whole, index=False)
    busiest = str(cases["court_id"].value_counts().index[0])
    assert main(["policy", "set", "--court", busiest, "--max-review", "0.05"]) == 0
    return parts, whole


def test_two_workers_score_every_case_as_one_process_does(cluster, export, tmp_path, capsys):
    parts, whole = export
    out = tmp_path / "scored"
    assert main(["score", "--data", str(parts), "--out", str(out), "--cluster", cluster]) == 0
    assert main(["score", "--data", str(whole), "--out", str(tmp_path / "one.parquet")]) == 0
    logged = capsys.readouterr()

    on_cluster = pd.read_parquet(out)  # every part, in order
    one = pd.read_parquet(tmp_path / "one.parquet")
    assert len(on_cluster) == len(one) == sum(PART_ROWS)
    assert on_cluster["case_id"].tolist() == one["case_id"].tolist()
    for column in ("p_complex", "p_assets"):
        np.testing.assert_allclose(on_cluster[column], one[column], rtol=0, atol=1e-12)
    for column in ("stream", "reasons", "policy_id", "policy_version", "stream_model_version"):
        assert on_cluster[column].tolist() == one[column].tolist(), column
    assert on_cluster["policy_id"].str.startswith("court:").any()  # the book reached the workers
    assert json.loads(on_cluster["reasons"].iloc[0])["complex"]

    manifest = json.loads((out / MANIFEST).read_text())
    assert [(p["file"], p["rows"]) for p in manifest["parts"]] == [
        (f"part-{i:05d}.parquet", n) for i, n in enumerate(PART_ROWS)
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST] + [p["file"] for p in manifest["parts"]]
    )
    assert manifest["rows"] == sum(PART_ROWS)
    champion = registry.load_case_model("triage-stream")
    assert manifest["models"]["stream"] == {"name": "triage-stream", "version": champion.version}
    assert manifest["input"]["fingerprint"] == input_fingerprint(find_inputs(str(parts)))
    assert manifest["cluster"] == {"workers": 2, "threads": 2}

    # Personal data was dropped at the boundary: not in the parts, the manifest or the log.
    raw = pd.read_csv(parts / "2024-03.csv", dtype=str)
    secrets = {v for column in PII_FIELDS for v in raw[column].dropna().head(100)}
    written = on_cluster.to_csv(index=False) + (out / MANIFEST).read_text()
    assert [s for s in secrets if s in written or s in logged.out + logged.err] == []


def _break(parts: Path, folder: Path) -> Path:
    """The export with a bad amount in its fourth file and a case_id of the first file twice in it."""
    broken = folder / "broken"
    broken.mkdir()
    for path in parts.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    fourth = pd.read_csv(broken / "2024-04.csv", dtype=str, keep_default_na=False)
    fourth.loc[417, "claim_amount"] = "1,000"
    repeated = pd.read_csv(broken / "2024-01.csv", dtype=str)["case_id"][5]
    fourth.loc[3, "case_id"] = fourth.loc[10, "case_id"] = repeated  # across files and within
    fourth.to_csv(broken / "2024-04.csv", index=False)
    return broken


def test_the_scorer_travels_to_the_workers_by_plain_pickle(home, export):
    """The models and the book reach each worker pickled: plain pickle, by class names.

    Were anything in them a closure, Dask would fall back to cloudpickle, which
    copies such code by value; once what it reached held a lock, the scatter
    failed and the command waited forever.
    """
    from features.record import example_case
    from models.policy_store import read_book
    from models.triage import Triage

    scorer = Scorer(triage=Triage.from_registry(threads=1), book=read_book())
    travelled = pickle.loads(pickle.dumps(scorer))  # raises on a closure or a lock
    cases = [
        dict(example_case(), case_id=f"T-{i}", claim_amount=1_000.0 * (i + 1)) for i in range(5)
    ]
    here, there = scorer.triage.decide(cases), travelled.triage.decide(cases)
    np.testing.assert_array_equal(here.p_complex, there.p_complex)
    assert here.reasons_json() == there.reasons_json()
    assert travelled.book == scorer.book


def test_a_bad_row_in_one_file_of_many_publishes_nothing_and_names_every_problem(
    cluster, export, tmp_path, capsys
):
    parts, _ = export
    broken = _break(parts, tmp_path)
    fourth = pd.read_csv(broken / "2024-04.csv", dtype=str)
    out = tmp_path / "scored"

    assert main(["score", "--data", str(broken), "--out", str(out), "--cluster", cluster]) == 2
    err = capsys.readouterr().err
    # Each problem once, as one process would report the files one after the other.
    assert "3 problem(s) in 1 file(s)" in err
    assert str(broken / "2024-04.csv") in err
    assert f"row 418 (case_id {fourth['case_id'][417]}), field claim_amount" in err
    for row in (4, 11):
        assert f"row {row} (case_id {fourth['case_id'][3]}), field case_id: duplicate" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # no staging folder left

    # Over an earlier run's scores: they stay as they were.
    assert main(["score", "--data", str(parts), "--out", str(out), "--cluster", cluster]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["score", "--data", str(broken), "--out", str(out), "--cluster", cluster]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "scored"]


def test_inputs_are_a_file_a_folder_or_a_glob_and_their_fingerprint_follows_them(tmp_path):
    for month in ("01", "02"):
        (tmp_path / f"2024-{month}.csv").write_text("case_id\n1\n")
    (tmp_path / ".hidden.csv").write_text("case_id\n1\n")
    (tmp_path / "notes.txt").write_text("not cases")
    folder = find_inputs(str(tmp_path))
    assert [Path(f.source).name for f in folder] == ["2024-01.csv", "2024-02.csv"]
    assert [f.part_name for f in folder] == ["part-00000.parquet", "part-00001.parquet"]
    assert [Path(f.source).name for f in find_inputs(str(tmp_path / "*-02.csv"))] == ["2024-02.csv"]
    assert find_inputs(f"file://{tmp_path}/2024-01.csv")[0].url == folder[0].url
    with pytest.raises(ValueError, match="neither CSV nor Parquet"):
        find_inputs(str(tmp_path / "*.txt"))
    with pytest.raises(FileNotFoundError, match="no CSV or Parquet file matches"):
        find_inputs(str(tmp_path / "*.parquet"))

    before = input_fingerprint(folder)
    assert input_fingerprint(find_inputs(str(tmp_path))) == before
    (tmp_path / "2024-02.csv").write_text("case_id\n1\n2\n")
    assert input_fingerprint(find_inputs(str(tmp_path))) != before


def test_an_out_that_holds_other_files_is_refused_before_any_work(
    cluster, export, tmp_path, capsys
):
    parts, _ = export
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("keep me")
    assert main(["score", "--data", str(parts), "--out", str(out), "--cluster", cluster]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]


def test_a_local_cluster_has_one_single_threaded_worker_process_per_core(monkeypatch):
    from training.cluster_score import connect

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})  # a one-core machine
    with connect("local") as client:
        workers = client.scheduler_info()["workers"]
        assert [w["nthreads"] for w in workers.values()] == [1]
        assert client.run(os.getpid).popitem()[1] != os.getpid()  # a process of its own


def test_an_out_url_is_written_by_the_workers_and_published_by_its_manifest(
    cluster, export, tmp_path, capsys
):
    """`--out file://…` goes through fsspec as `s3://…` would: no rename, the manifest last.

    A ``memory://`` store would not do: each worker process has its own.
    """
    parts, _ = export
    scored = tmp_path / "scored"
    url = f"file://{scored}"

    broken = _break(parts, tmp_path)
    assert main(["score", "--data", str(broken), "--out", url, "--cluster", cluster]) == 2
    assert "nothing written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # no staging prefix left

    assert main(["score", "--data", str(parts), "--out", url, "--cluster", cluster]) == 0
    manifest = json.loads((scored / MANIFEST).read_text())
    assert sorted(p.name for p in scored.iterdir()) == sorted(
        [MANIFEST] + [p["file"] for p in manifest["parts"]]
    )
    assert len(pd.read_parquet(scored)) == manifest["rows"] == sum(PART_ROWS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "scored"]

    # A publish cut short left parts without a manifest: a failed run leaves them as they
    # are, the next good one replaces them.
    (scored / MANIFEST).unlink()
    (scored / "part-00009.parquet").write_bytes(b"from a longer run")
    half = {p.name: p.read_bytes() for p in scored.iterdir()}
    assert main(["score", "--data", str(broken), "--out", url, "--cluster", cluster]) == 2
    assert {p.name: p.read_bytes() for p in scored.iterdir()} == half
    assert main(["score", "--data", str(parts), "--out", url, "--cluster", cluster]) == 0
    assert sorted(p.name for p in scored.iterdir()) == sorted(
        set(half) - {"part-00009.parquet"} | {MANIFEST}
    )
    assert json.loads((scored / MANIFEST).read_text())["rows"] == sum(PART_ROWS)

    # Anything else under the prefix is refused before any work.
    (scored / "notes.txt").write_text("keep me")
    assert main(["score", "--data", str(parts), "--out", url, "--cluster", cluster]) == 2
    assert "prefix that holds other files (notes.txt)" in capsys.readouterr().err
    assert (scored / "notes.txt").read_text() == "keep me"


def test_a_prefix_is_published_old_manifest_first_new_manifest_last(tmp_path):
    from fsspec.implementations.local import LocalFileSystem

    from training.cluster_score import _publish_prefix

    class Recorded(LocalFileSystem):
        """The local filesystem, noting what removes or moves a manifest."""

        def __init__(self) -> None:
            super().__init__()
            self.steps: list[str] = []

        def rm_file(self, path: str) -> None:
            self.steps.append(f"rm {Path(path).name}")
            super().rm_file(path)

        def mv(self, path1: str, path2: str, **kwargs: object) -> None:
            self.steps.append(f"mv {Path(path2).name}")
            super().mv(path1, path2, **kwargs)

    out, staging = tmp_path / "scores", tmp_path / ".scores.staging-1"
    out.mkdir()
    staging.mkdir()
    for name, text in (
        ("part-00000.parquet", "old"),
        ("part-00001.parquet", "old"),
        (MANIFEST, "old"),
    ):
        (out / name).write_text(text)
    for name in ("part-00000.parquet", MANIFEST):
        (staging / name).write_text("new")

    fs = Recorded()  # a class of this test's own: fsspec's instance cache gives a fresh one
    _publish_prefix(fs, str(staging), str(out), ["part-00000.parquet"])

    assert fs.steps == [f"rm {MANIFEST}", "mv part-00000.parquet", f"mv {MANIFEST}"]
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "part-00000.parquet": "new",
        MANIFEST: "new",
    }
    assert not staging.exists()
