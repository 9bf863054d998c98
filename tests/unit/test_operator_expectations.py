"""The expectations of the operator (grpo_operator.expectations): workload changes it made that the watch index
has not shown yet, overlaid on the index until it has."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grpo_operator.expectations import Expectations

KEY = ("ns", "job")


def workload(uid: str) -> dict:
    return {"kind": "Job", "metadata": {"name": "job", "uid": uid}}


def uids(workloads: list[dict]) -> list[str]:
    return [w["metadata"]["uid"] for w in workloads]


def test_nothing_expected_is_satisfied_and_the_index_is_the_truth():
    e = Expectations()
    index = [workload("a")]
    assert e.is_satisfied(KEY)
    assert e.overlay(KEY, index) is index


def test_created_is_overlaid_until_the_watch_shows_it():
    e = Expectations()
    e.expect_created(KEY, workload("a"))
    assert not e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [])) == ["a"], "the index lags: the created Job is still there"
    assert uids(e.overlay(KEY, [workload("a")])) == ["a"], "never twice once the index lists it"
    assert uids(e.overlay(("ns", "other"), [])) == [], "per GRPOJob"
    e.observed(KEY, "a", gone=False)
    assert e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [])) == []


def test_created_then_shown_gone_is_not_revived():
    e = Expectations()
    e.expect_created(KEY, workload("a"))
    e.observed(KEY, "a", gone=True)
    assert e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [])) == []


def test_deleted_is_hidden_until_the_watch_shows_it_gone():
    e = Expectations()
    e.expect_deleted(KEY, [workload("a")])
    assert not e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [workload("a"), workload("b")])) == ["b"]
    e.observed(KEY, "a", gone=False)  # a stale event of the deleted Job: still expected gone
    assert not e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [workload("a")])) == []
    e.observed(KEY, "a", gone=True)
    assert e.is_satisfied(KEY)


def test_expect_deleted_of_nothing_expects_nothing():
    e = Expectations()
    e.expect_deleted(KEY, [])
    assert e.is_satisfied(KEY)


def test_suspend_then_resume_before_the_watch_caught_up():
    """What the sync test does against the emulator: create a, suspend (delete a), resume (create b) while the
    index still lists a."""
    e = Expectations()
    e.expect_created(KEY, workload("a"))
    e.expect_deleted(KEY, [workload("a")])  # suspended
    assert uids(e.overlay(KEY, [workload("a")])) == [], "suspended: a is gone even though the index lists it"
    e.expect_created(KEY, workload("b"))  # resumed
    assert uids(e.overlay(KEY, [workload("a")])) == ["b"], "the new Job, not the old one"
    e.observed(KEY, "a", gone=True)
    assert not e.is_satisfied(KEY), "b is not shown yet"
    e.observed(KEY, "b", gone=False)
    assert e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [workload("b")])) == ["b"]


def test_delete_forgets_the_key():
    e = Expectations()
    e.expect_created(KEY, workload("a"))
    e.expect_deleted(KEY, [workload("b")])
    e.delete(KEY)
    assert e.is_satisfied(KEY)
    assert uids(e.overlay(KEY, [workload("b")])) == ["b"]


ACTIONS = st.lists(st.tuples(st.sampled_from(["create", "delete", "seen", "gone"]), st.sampled_from("abcd")),
                   max_size=12)


@given(ACTIONS, st.lists(st.sampled_from("abcd"), unique=True))
def test_overlay_never_duplicates_nor_shows_a_deleted_workload(actions, index_uids):
    e = Expectations()
    created: str | None = None  # the model: the pending created uid and deleted uids
    deleted: set[str] = set()
    used: set[str] = set()
    for action, uid in actions:
        if action == "create":
            if uid in used:  # the API server never reuses a uid
                continue
            used.add(uid)
            e.expect_created(KEY, workload(uid))
            created = uid
        elif action == "delete":
            e.expect_deleted(KEY, [workload(uid)])
            deleted.add(uid)
            used.add(uid)
            created = None if created == uid else created
        else:
            e.observed(KEY, uid, gone=action == "gone")
            created = None if created == uid else created
            if action == "gone":
                deleted.discard(uid)
    shown = uids(e.overlay(KEY, [workload(u) for u in index_uids]))
    assert len(shown) == len(set(shown))
    assert not deleted & set(shown)
    assert created is None or created in shown
    assert e.is_satisfied(KEY) == (created is None and not deleted)
