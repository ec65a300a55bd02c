"""policy_eval's in-process path on the bundled demo data and the three held-out schools:
the goals of the policy issue hold with the word lists alone (all scores 0), so the
figures do not depend on the toxicity model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo_data import path as demo_path

from .conftest import POLICY_FIXTURES

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def policy_eval():
    spec = importlib.util.spec_from_file_location("policy_eval", ROOT / "benchmarks" / "policy_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SETS = [
    (demo_path("comments.jsonl"), demo_path("school.toml")),
    (POLICY_FIXTURES / "comments_b.jsonl", POLICY_FIXTURES / "school_b.toml"),
    (POLICY_FIXTURES / "comments_c.jsonl", POLICY_FIXTURES / "school_c.toml"),
    (POLICY_FIXTURES / "comments_d.jsonl", POLICY_FIXTURES / "school_d.toml"),
]


@pytest.mark.parametrize("labelled,school", SETS, ids=["demo", "school_b", "school_c", "school_d"])
def test_goals_hold_with_word_lists_alone(policy_eval, labelled, school):
    config = load_config(school)
    rows = policy_eval.read_rows(str(labelled))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config, policy_eval.zero_scores)
    res = policy_eval.evaluate(rows, pred, esc, blocked, config)
    assert res["macro_f1"] >= 0.85, res["per_key"]
    assert res["escalation"]["recall"] >= 0.85 and res["escalation"]["precision"] >= 0.9, res["escalation"]
    assert res["complaint_strikes"] == 0
    assert res["blocks"]["exact"], res["blocks"]


def test_last_held_out_school(policy_eval):
    """School E (written last): one homophobic comment with no identity word is missed,
    so its author's block is missing; the rest holds."""
    config = load_config(POLICY_FIXTURES / "school_e.toml")
    rows = policy_eval.read_rows(str(POLICY_FIXTURES / "comments_e.jsonl"))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config, policy_eval.zero_scores)
    res = policy_eval.evaluate(rows, pred, esc, blocked, config)
    assert res["macro_f1"] >= 0.85 and res["escalation"]["recall"] >= 0.85
    assert res["escalation"]["precision"] >= 0.9 and res["complaint_strikes"] == 0
    assert not res["blocks"]["extra"]


def test_demo_goals_of_the_issue(policy_eval):
    config = load_config(demo_path("school.toml"))
    rows = policy_eval.read_rows(str(demo_path("comments.jsonl")))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config, policy_eval.zero_scores)
    res = policy_eval.evaluate(rows, pred, esc, blocked, config)
    assert res["escalation"]["recall"] >= 0.95 and res["escalation"]["precision"] >= 0.75
    assert res["macro_f1"] >= 0.75
    # no complaint ever counted as a strike: no predicted complaint key reached a strike
    assert res["complaint_strikes"] == 0
    assert res["blocks"]["exact"] and res["blocks"]["expected"]


def test_labelled_blocks_follow_the_window(policy_eval):
    """School B's tw:6200 has 3 insults within 29 days (block), tw:6201 within 30.5 (none)."""
    config = load_config(POLICY_FIXTURES / "school_b.toml")
    rows = policy_eval.read_rows(str(POLICY_FIXTURES / "comments_b.jsonl"))
    expected = policy_eval.labelled_blocks(rows, config)
    assert "tw:6200" in expected and "tw:6201" not in expected and "fb:5200" not in expected


@pytest.mark.parametrize("name", ["f", "g"])
def test_schools_f_and_g_floors(policy_eval, name):
    """Schools F (secondary academy) and G (special school with nursery), written before
    the generalisation changes: first run F 0.71 macro-F1 / escalation recall 0.49, G 0.65
    / 0.44 (README). They have since been used to find general misses, so they are no
    longer held-out; these floors guard the gains, with word lists alone (scores 0)."""
    config = load_config(POLICY_FIXTURES / f"school_{name}.toml")
    rows = policy_eval.read_rows(str(POLICY_FIXTURES / f"comments_{name}.jsonl"))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config, policy_eval.zero_scores)
    res = policy_eval.evaluate(rows, pred, esc, blocked, config)
    assert res["macro_f1"] >= 0.75, res["per_key"]
    assert res["escalation"]["recall"] >= 0.8 and res["escalation"]["precision"] >= 0.9, res["escalation"]
    assert res["complaint_strikes"] == 0


BLIND = ROOT / "tests" / "fixtures" / "policy_blind"


def blind_result(policy_eval, name: str) -> dict:
    """policy_eval's figures for blind set ``name`` (word lists alone: all scores 0)."""
    config = load_config(BLIND / f"school_{name}.toml")
    rows = policy_eval.read_rows(str(BLIND / f"comments_{name}.jsonl"))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config, policy_eval.zero_scores)
    return policy_eval.evaluate(rows, pred, esc, blocked, config)


@pytest.mark.parametrize("name", ["h", "i"])
def test_blind_schools_h_and_i_floors(policy_eval, name):
    """Schools H (urban secondary academy) and I (rural CofE primary with nursery) were
    written blind to the word lists; first run H 0.661 macro-F1 / escalation recall 0.595,
    I 0.653 / 0.639 (their README). Their misses were then fixed with general mechanisms,
    so they are no longer blind; these floors guard the gains, with word lists alone
    (scores 0): the issue's goals (escalation recall 0.95 at precision 0.75 is met on H;
    I misses its Welsh and Polish allegations, which go to a person as needs_review)."""
    res = blind_result(policy_eval, name)
    assert res["macro_f1"] >= 0.85, res["per_key"]
    assert res["escalation"]["recall"] >= 0.9 and res["escalation"]["precision"] >= 0.9, res["escalation"]
    assert res["complaint_strikes"] == 0
    assert res["blocks"]["exact"], res["blocks"]


def test_school_j_floors_after_its_round(policy_eval):
    """School J (a West Yorkshire secondary), written blind: first run macro-F1 0.592,
    escalation precision 0.842, recall 0.400. After one round of general mechanisms
    (``52-threat-intent.toml``, ``47-acts-more.toml``) it is a development set; these
    floors guard the gains (word lists alone, scores 0)."""
    res = blind_result(policy_eval, "j")
    assert res["macro_f1"] >= 0.70, res["per_key"]
    assert res["escalation"]["recall"] >= 0.75 and res["escalation"]["precision"] >= 0.9, res["escalation"]
    assert res["complaint_strikes"] == 0


def test_school_k_floors_after_its_round(policy_eval):
    """School K (a West Midlands primary), written blind: first run macro-F1 0.620,
    escalation recall 0.550 (unchanged by the J round). After its own round (spellings,
    veiled threats, care failures) it is a development set; floors with word lists alone."""
    res = blind_result(policy_eval, "k")
    assert res["macro_f1"] >= 0.72, res["per_key"]
    assert res["escalation"]["recall"] >= 0.8 and res["escalation"]["precision"] >= 0.9, res["escalation"]
    assert res["complaint_strikes"] == 0


def test_blind_school_l_does_not_regress(policy_eval):
    """School L (a south-east London academy) stays blind: nobody reads its misses, so it
    measures what a round does for a school nobody tuned on (before the J and K rounds:
    macro-F1 0.537, escalation recall 0.341; after: 0.559 / 0.415, the replay path). This
    only guards against a change that makes it worse (word lists alone); do not tune on it."""
    res = blind_result(policy_eval, "l")
    assert res["macro_f1"] >= 0.53, res["per_key"]
    assert res["escalation"]["recall"] >= 0.4 and res["escalation"]["precision"] >= 0.75, res["escalation"]
    assert res["complaint_strikes"] == 0


def model_result(policy_eval, name: str) -> dict:
    """policy_eval's figures for blind set ``name`` with the shipped signals model."""
    config = load_config(BLIND / f"school_{name}.toml")
    rows = policy_eval.read_rows(str(BLIND / f"comments_{name}.jsonl"))
    pred, esc, blocked, _ = policy_eval.run_inprocess(rows, config)
    return policy_eval.evaluate(rows, pred, esc, blocked, config)


@pytest.mark.parametrize("name, recall, sent", [("l", 0.65, 0.93), ("m", 0.75, 0.9), ("n", 0.6, 0.85)])
def test_blind_schools_with_the_signals_model_do_not_regress(policy_eval, name, recall, sent):
    """Blind sets L, M and N stay unread: first runs with the signals model gave escalation
    recall 0.68 / 0.78 / 0.63 and escalated-or-sent-to-a-person recall 0.95 / 0.93 / 0.87
    (``tests/fixtures/policy_blind/README.md``). These floors only guard against a change that
    makes them worse; do not tune on them."""
    res = model_result(policy_eval, name)
    assert res["escalation"]["recall"] >= recall, res["escalation"]
    assert res["escalated_or_reviewed"]["recall"] >= sent, res["escalated_or_reviewed"]
    assert res["complaint_strikes"] == 0
