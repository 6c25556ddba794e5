"""Following the registry: the pointer file, a worker's swap, the supervisor's follower.

The end-to-end proof (a real `triage serve`, a real registry, a client
streaming requests while an alias moves) is in test_live_e2e.py; these pin
the pieces: publishing and reading the pointer, the worker's load-beside and
swap (with real models, and that the replaced ones are freed), and the
follower's decisions.
"""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import pytest

from serving.live_models import LiveModels
from serving.served_pointer import ServedPointer, file_signature, publish, read


def pointer(tag: str, **changes) -> ServedPointer:
    values = {
        "tag": tag,
        "versions": {"stream": {"champion": "1"}, "assets": {"champion": "1"}},
        "registry": {"triage-stream": {"champion": "1"}, "triage-assets": {"champion": "1"}},
        "published_at": "2026-12-05T12:00:00.000Z",
    }
    return ServedPointer(**(values | changes))


# --- the pointer file -----------------------------------------------------------------------------


def test_a_published_pointer_reads_back_whole(tmp_path):
    path = tmp_path / "served-models.json"
    assert read(path) is None and file_signature(path) is None
    published = pointer("triage-models:s1-a1", last_failure={"at": "x", "error": "boom"})
    publish(path, published)
    assert read(path) == published
    assert published.aliases_of("triage-stream", "1") == ["champion"]
    assert published.aliases_of("triage-stream", "2") == []


def test_republishing_changes_the_signature_even_with_the_same_bytes(tmp_path):
    path = tmp_path / "served-models.json"
    publish(path, pointer("triage-models:a"))
    first = file_signature(path)
    publish(path, pointer("triage-models:a"))
    assert file_signature(path) != first  # a new inode: no change is missed within a tick


def test_a_broken_pointer_is_a_clear_error(tmp_path):
    path = tmp_path / "served-models.json"
    path.write_text('{"versions": {}}')
    with pytest.raises(ValueError, match="needs a string 'tag'"):
        read(path)
    path.write_text("{half")
    with pytest.raises(ValueError, match="not a pointer file"):
        read(path)


# --- a worker's swap (fake deciders) --------------------------------------------------------------


class Fake:
    def __init__(self, tag: str) -> None:
        self.tag = tag


def following(path: Path, *, broken=(), **hooks) -> tuple[LiveModels[Fake], list[str]]:
    loads: list[str] = []

    def load(tag: str, current: Fake | None) -> Fake:
        loads.append(tag)
        if tag in broken:
            raise ValueError(f"{tag} does not warm up")
        return Fake(tag)

    return LiveModels(load, path, retire_timeout=5, **hooks), loads


def test_a_restarted_worker_loads_the_published_tag_not_the_one_it_was_started_with(tmp_path):
    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:new"))
    live, loads = following(path)
    live.start(live.initial_tag("triage-models:old"))
    assert loads == ["triage-models:new"] and live.decider.tag == "triage-models:new"


def test_without_a_pointer_the_worker_serves_its_tag_and_follows_nothing(tmp_path):
    live, loads = following(None)
    live.start(live.initial_tag("triage-models:packed"))
    assert not live.poll()
    assert loads == ["triage-models:packed"]
    assert live.reload_info()["follows_registry"] is False


def test_a_new_tag_is_loaded_beside_and_swapped_in(tmp_path):
    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:a"))
    swaps = []
    live, loads = following(path, on_swap=lambda new, old: swaps.append((new, old)))
    first = live.start(live.initial_tag("triage-models:a"))
    assert not live.poll()  # nothing new: one stat, no load
    publish(path, pointer("triage-models:a", registry={"triage-stream": {"champion": "9"}}))
    assert not live.poll() and loads == ["triage-models:a"]  # only the registry view changed
    assert live.pointer.registry == {"triage-stream": {"champion": "9"}}
    publish(path, pointer("triage-models:b"))
    assert live.poll()
    assert live.decider.tag == "triage-models:b"
    assert loads == ["triage-models:a", "triage-models:b"]
    assert [(new.tag, old and old.tag) for new, old in swaps] == [
        ("triage-models:a", None),
        ("triage-models:b", "triage-models:a"),
    ]
    info = live.reload_info()
    assert info["tag"] == "triage-models:b" and info["swaps"] == 1 and info["last_error"] is None
    assert first.tag == "triage-models:a"  # a request holding the old one still has it whole


def test_a_tag_that_fails_to_load_leaves_the_old_one_serving(tmp_path):
    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:good"))
    failures = []
    live, _ = following(
        path, broken={"triage-models:bad"}, on_failure=lambda t, e: failures.append((t, e))
    )
    live.start(live.initial_tag("x"))
    publish(path, pointer("triage-models:bad"))
    assert not live.poll()
    assert live.decider.tag == "triage-models:good"
    info = live.reload_info()
    assert info["failures"] == 1 and info["last_attempt_tag"] == "triage-models:bad"
    assert "does not warm up" in info["last_error"]
    assert failures == [("triage-models:bad", "ValueError: triage-models:bad does not warm up")]
    assert not live.poll()  # not retried on every look: only when something new is published
    publish(path, pointer("triage-models:better"))
    assert live.poll() and live.decider.tag == "triage-models:better"
    assert live.reload_info()["last_error"] is None


def test_the_replaced_decider_is_let_go_once_no_request_holds_it(tmp_path):
    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:a"))
    retired = []
    live, _ = following(path, after_retire=lambda: retired.append(True))
    live.start(live.initial_tag("x"))
    in_flight = live.decider  # a request that started on the old models
    gone = weakref.ref(in_flight)
    publish(path, pointer("triage-models:b"))
    assert live.poll() and live.decider.tag == "triage-models:b"
    assert not live.poll() and retired == []  # the request still runs on it
    assert in_flight.tag == "triage-models:a"
    del in_flight  # the request finishes
    assert not live.poll()
    assert retired == [True] and gone() is None
    assert not live.poll() and retired == [True]  # once


def test_a_decider_held_too_long_is_let_go_anyway(tmp_path):
    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:a"))
    retired = []
    live = LiveModels(
        lambda tag, current: Fake(tag),
        path,
        after_retire=lambda: retired.append(True),
        retire_timeout=0.2,
    )
    live.start(live.initial_tag("x"))
    stuck = live.decider
    publish(path, pointer("triage-models:b"))
    assert live.poll()
    time.sleep(0.3)
    assert not live.poll() and retired == [True]  # the watcher never waits on a request
    assert stuck.tag == "triage-models:a"


# --- a worker's swap (real models) ----------------------------------------------------------------


def test_real_models_swap_and_the_old_ones_are_freed_despite_gc_freeze(
    models_tag, trained, tmp_path
):
    """Swap between two stored sets a few times, as the service does (gc.freeze after load)."""
    from serving.decider import Decider
    from serving.served_models import load_models
    from serving.service import _collect_retired
    from tests.serving.conftest import store_models

    other = store_models(trained, challengers=False)
    assert other != models_tag
    path = tmp_path / "p.json"
    publish(path, pointer(models_tag))

    def load(tag: str, current: Decider | None) -> Decider:
        decider = Decider(load_models(tag), ids=None if current is None else current.ids)
        decider.warm_up()
        return decider

    live = LiveModels(load, path, after_retire=_collect_retired)
    live.start(live.initial_tag("x"))
    gc.collect()
    gc.freeze()  # as the service does once loaded
    try:
        freed = []
        for tag in (other, models_tag, other, models_tag):
            old = live.decider
            boosters = [
                weakref.ref(old.triage.stream.model.booster),
                weakref.ref(old.triage.assets.model.booster),
            ]
            deciders = [weakref.ref(old)]
            last_id = old.ids.next()[0][0]
            del old
            publish(path, pointer(tag))
            assert live.poll()
            live.poll()  # the next look lets the old models go
            assert live.decider.served.tag == tag
            assert live.decider.ids.next()[0][0] > last_id  # one id sequence across swaps
            freed.append(all(ref() is None for ref in boosters + deciders))
        assert freed == [True] * 4
        assert {"stream", "assets"} <= set(live.decider.model_info(read(path)))
    finally:
        gc.unfreeze()
        store_models(trained)  # `latest` again, as the other modules (the Bento) expect


# --- the supervisor's follower (registry and import injected) -------------------------------------


def model_set(stream: str, assets: str, challenger: str | None = None):
    from serving.model_import import ModelSet, ServedVersion

    champions = {
        kind: ServedVersion(kind, f"triage-{kind}", version, "champion")
        for kind, version in (("stream", stream), ("assets", assets))
    }
    challengers = {}
    if challenger is not None:
        challengers["stream"] = ServedVersion("stream", "triage-stream", challenger, "challenger")
    return ModelSet(champions, challengers)


class Registry:
    """The aliases as a registry holds them; the set they resolve to."""

    def __init__(self) -> None:
        self.champion = {"stream": "1", "assets": "1"}
        self.challenger: str | None = None
        self.broken: set[str] = set()
        self.imported: list[str] = []

    def view(self, settings):
        view = {f"triage-{k}": {"champion": v} for k, v in self.champion.items()}
        if self.challenger:
            view["triage-stream"]["challenger"] = self.challenger
        return view

    def resolve(self, settings):
        return model_set(self.champion["stream"], self.champion["assets"], self.challenger)

    def import_set(self, chosen) -> str:
        tag = f"triage-models:{chosen.bento_version()}"
        self.imported.append(tag)
        if chosen.champions["stream"].version in self.broken:
            from serving.model_import import ModelsRefused

            raise ModelsRefused(f"{tag}: the loading process died of SIGABRT: truncated")
        return tag


@pytest.fixture
def follower(tmp_path):
    from app.settings import get_settings
    from serving.follower import Follower

    held = Registry()
    path = tmp_path / "served-models.json"
    chosen = held.resolve(None)
    tag = held.import_set(chosen)
    publish(path, pointer(tag, versions=chosen.versions(), registry=held.view(None)))
    made = Follower(
        get_settings(),
        path,
        view=held.view,
        resolve=held.resolve,
        import_set=held.import_set,
        retry_seconds=3600,
    )
    return made, held, path


def test_the_follower_publishes_a_moved_champion(follower):
    made, held, path = follower
    assert made.follow_once() == "unchanged"
    held.champion["stream"] = "2"
    assert made.follow_once() == "published"
    published = read(path)
    assert published.tag == held.imported[-1] and published.tag.startswith("triage-models:s2-a1-")
    assert published.versions == {"stream": {"champion": "2"}, "assets": {"champion": "1"}}
    assert published.registry["triage-stream"] == {"champion": "2"}
    assert published.last_failure is None
    assert made.follow_once() == "unchanged" and len(held.imported) == 2


def test_the_follower_refuses_a_broken_set_and_keeps_the_served_one(follower):
    made, held, path = follower
    before = read(path)
    held.broken.add("3")
    held.champion["stream"] = "3"
    assert made.follow_once() == "refused"
    after = read(path)
    assert after.tag == before.tag and after.versions == before.versions
    assert after.registry["triage-stream"] == {"champion": "3"}  # the aliases as they are
    assert "SIGABRT" in after.last_failure["error"]
    assert after.last_failure["versions"]["stream"] == {"champion": "3"}
    assert made.follow_once() == "unchanged"  # not re-imported on every poll
    made.retry_seconds = 0
    assert made.follow_once() == "refused"  # but again after a while
    held.champion["stream"] = "1"  # rolled back to what serves
    assert made.follow_once() == "aliases"
    assert read(path).tag == before.tag and read(path).last_failure is None


def test_the_follower_publishes_a_new_challenger_and_survives_a_lost_champion(follower):
    made, held, path = follower
    held.challenger = "4"
    assert made.follow_once() == "published"
    assert read(path).versions["stream"] == {"champion": "1", "challenger": "4"}
    served = read(path).tag

    def no_champion(settings):
        from serving.served_models import NoChampion

        raise NoChampion("no champion of triage-stream")

    made._resolve = no_champion
    held.challenger = None
    assert made.follow_once() == "refused"
    assert read(path).tag == served and "no champion" in read(path).last_failure["error"]


# --- the check before publishing ------------------------------------------------------------------


def test_the_check_passes_a_good_set_and_refuses_a_truncated_booster_without_dying(
    models_tag, trained
):
    """LightGBM may abort the process that loads a booster cut short: the check's child dies."""
    import bentoml

    from serving.model_import import ModelSet, ModelsRefused, ServedVersion, check_models
    from serving.model_import import import_models as store
    from tests.serving.conftest import scratch_tempdir, store_models

    check_models(models_tag)
    champions = {
        kind: ServedVersion(kind, f"triage-{kind}", "7", "champion")
        for kind in ("stream", "assets")
    }
    with scratch_tempdir():
        broken = store(
            ModelSet(champions),
            fetch=lambda served, into: trained["challenger"][served.kind].save(into),
        )
    try:
        booster = Path(bentoml.models.get(broken).path) / "stream" / "booster.txt"
        text = booster.read_bytes()
        booster.write_bytes(text[: text.rindex(b"\n", 0, len(text) // 3) + 1])
        with pytest.raises(ModelsRefused, match="the loading process") as refused:
            check_models(broken)
        assert broken in str(refused.value)
        print(refused.value)
    finally:
        bentoml.models.delete(broken)
        store_models(trained)  # `latest` again, as the other modules (the Bento) expect


# --- court policies: published with the models, swapped without them ------------------------------


def _policy_tag(court: str | None, max_review: float, n: int, *, raw: str | None = None):
    from models.policy import DEFAULT_POLICY
    from models.policy_book import POLICY_TAG_PREFIX, PolicyChange, scope_of

    change = PolicyChange(
        time=f"2026-12-05T12:00:0{n}Z",
        scope=scope_of(court=court),
        policy=DEFAULT_POLICY.model_copy(update={"max_review": max_review}),
        previous=None,
        reason="test",
    )
    return f"{POLICY_TAG_PREFIX}20261205T12000{n}Z.x.{n:08x}", raw or change.to_json()


def test_the_follower_publishes_a_changed_policy_book_and_refuses_a_bad_tag(tmp_path, caplog):
    from app.settings import get_settings
    from serving.follower import Follower, RegistryLook

    held = Registry()
    tags: dict[str, str] = dict([_policy_tag("440305", 0.2, 1)])
    path = tmp_path / "served-models.json"
    made = Follower(
        get_settings(),
        path,
        look=lambda settings: RegistryLook(held.view(settings), dict(tags)),
        resolve=held.resolve,
        import_set=held.import_set,
    )
    publish(path, pointer(held.import_set(held.resolve(None)), registry=held.view(None)))
    assert made.follow_once() == "policies"  # the book, and nothing imported for it
    first = read(path)
    assert first.policies == tags and first.policies_refused == [] and len(held.imported) == 1
    assert made.follow_once() == "unchanged"

    key, value = _policy_tag("440305", 0.1, 2)
    tags[key] = value
    assert made.follow_once() == "policies"
    assert read(path).policies == tags and read(path).tag == first.tag

    # Capacity above 1, written around the CLI: refused naming the field, the old one stays.
    bad_key, bad = _policy_tag("440305", 0.1, 3)
    tags[bad_key] = bad.replace('"max_review": 0.1', '"max_review": 1.5')
    assert '"max_review": 1.5' in tags[bad_key]
    with caplog.at_level("ERROR", logger="triage.follower"):
        assert made.follow_once() == "policies"
        assert made.follow_once() == "unchanged"
    published = read(path)
    assert bad_key not in published.policies and set(published.policies) == set(tags) - {bad_key}
    (refusal,) = published.policies_refused
    assert refusal["key"] == bad_key and refusal["error"].startswith("max_review")
    logged = [r.getMessage() for r in caplog.records if bad_key in r.getMessage()]
    assert len(logged) == 1 and "stays in force" in logged[0]  # once, not on every poll

    # A model change carries the book along.
    held.champion["stream"] = "2"
    assert made.follow_once() == "published"
    assert read(path).policies == published.policies
    assert read(path).policies_refused == published.policies_refused


def test_a_worker_swaps_its_policy_book_without_reloading_its_models(tmp_path):
    from serving.policies import LivePolicies

    path = tmp_path / "p.json"
    publish(path, pointer("triage-models:a"))
    policies = LivePolicies()
    live, loads = following(path, on_pointer=policies.follow)
    live.start(live.initial_tag("x"))
    empty = policies.current
    assert empty.book.resolve("440305").version == 0
    held_by_a_request = policies.current.book  # a request reads the book once

    key, value = _policy_tag("440305", 0.1, 1)
    publish(path, pointer("triage-models:a", policies={key: value}))
    assert not live.poll()  # no model swap ...
    assert loads == ["triage-models:a"]
    swapped = policies.current  # ... but a new book
    assert swapped is not empty and policies.swaps == 1
    assert swapped.book.resolve("440305").label == "court:440305 v1"
    assert swapped.book.resolve("110101").version == 0
    assert held_by_a_request.resolve("440305").version == 0  # the old book is left whole
    assert swapped.info()["in_force"]["court:440305"]["policy"]["max_review"] == 0.1

    publish(path, pointer("triage-models:b", policies={key: value}))
    assert live.poll() and policies.current is swapped  # models changed, the book did not

    refused = [{"key": "policy_change.bad", "error": "max_review: must be in (0, 1]"}]
    publish(path, pointer("triage-models:b", policies={key: value}, policies_refused=refused))
    live.poll()
    assert policies.current.refused == refused and policies.current.info()["refused"] == refused
    assert policies.current.book.resolve("440305").label == "court:440305 v1"


def test_the_decider_routes_each_case_by_its_courts_policy_and_the_shadow_by_the_same(
    models_tag, trained
):
    from models.policy import thresholds_for
    from models.policy_book import PolicyBook
    from serving.decider import Decider
    from serving.schemas import Decision
    from serving.served_models import load_models
    from tests.conftest import valid_rows

    decider = Decider(load_models(models_tag))
    key, value = _policy_tag("440305", 0.02, 1)
    book = PolicyBook.from_tags({key: value})
    cases = [
        dict(r, court_id=c) for r, c in zip(valid_rows(4), ["440305", "440306"] * 2, strict=True)
    ]
    scored = decider.score(cases, "batch", book)
    answers = [Decision.model_validate_json(r) for r in decider.responses(scored)]
    narrow = thresholds_for(
        trained["champion"]["stream"].metadata.validation_scores, book.resolve("440305").policy
    ).thresholds
    assert [a.policy.model_dump(exclude_none=True) for a in answers[:2]] == [
        {"id": "court:440305", "scope": "court", "version": 1},
        {"id": "national", "scope": "national", "version": 0},
    ]
    assert answers[0].thresholds.model_dump() == narrow.to_dict()
    assert answers[1].thresholds.model_dump() == decider.thresholds  # the model's own
    rows = decider.log_rows(scored)
    assert [(r["policy_id"], r["policy_version"]) for r in rows[:2]] == [
        ("court:440305", 1),
        ("national", 0),
    ]
    challenger = trained["challenger"]["stream"]
    shadow_narrow = thresholds_for(
        challenger.metadata.validation_scores, book.resolve("440305").policy
    ).thresholds
    assert scored.shadow is not None and scored.shadow.p_complex is not None
    expected = [
        (shadow_narrow if c["court_id"] == "440305" else challenger.thresholds).route([p])[0]
        for c, p in zip(cases, scored.shadow.p_complex, strict=True)
    ]
    assert list(scored.shadow.stream) == expected
    assert decider.routers(book)[0] is decider.routers(book)[0]  # kept while the book is
