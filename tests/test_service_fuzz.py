"""No input yields a 500: random and mutated bodies and query strings, through the Flask test
client. Every refusal is problem+json and the log stays unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.canonical import canonical_json
from tally_service.elector.ballot import make_ballot
from tally_service.service.app import create_app
from tally_service.service.election import Election
from tests.conftest import Built

FIELDS = ["election", "unit", "round", "elector", "selections", "sum_proof", "signature"]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=80)
    | st.sampled_from(["AAA", "AAA-E0001", "00" * 32, "ff" * 32])
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


@pytest.fixture
def setup(election: Election, built: Built) -> tuple[FlaskClient, Election, dict[str, Any]]:
    election.open_round("AAA", 1)
    ballot = make_ballot(
        election.manifest.hash,
        "AAA",
        1,
        "AAA-E0001",
        election.log("AAA", 1).candidates,
        "AAA-C1",
        election.manifest.election_key,
        built.keys["AAA-E0001"],
    )
    return create_app(election).test_client(), election, ballot


def _mutate(ballot: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    b = copy.deepcopy(ballot)
    node: Any = b
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return b


def _jcs(value: Any) -> bytes | None:
    try:
        return canonical_json(value)
    except Exception:  # not encodable: certainly not the ballot
        return None


PATHS = [
    ["election"],
    ["unit"],
    ["round"],
    ["elector"],
    ["selections"],
    ["sum_proof"],
    ["signature"],
    ["selections", 0],
    ["selections", 0, "ciphertext"],
    ["selections", 0, "ciphertext", "a"],
    ["selections", 1, "proof", "c0"],
    ["selections", 2, "candidate"],
    ["sum_proof", "u1"],
]


def test_no_body_yields_a_500(setup: tuple[FlaskClient, Election, dict[str, Any]]) -> None:
    client, election, ballot = setup
    root = election.log("AAA", 1).tree.root()

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        st.one_of(
            json_value.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
            st.tuples(st.sampled_from(PATHS), json_value)
            .map(lambda pv: _mutate(ballot, pv[0], pv[1]))
            # a mutation that leaves the same JCS bytes ("round": 1.0 for 1) is the same,
            # validly signed ballot: the service rightly accepts it
            .filter(lambda m: _jcs(m) != _jcs(ballot))
            .map(lambda m: json.dumps(m).encode()),
        )
    )
    def check(body: bytes) -> None:
        r = client.post("/api/v1/ballots", data=body, content_type="application/json")
        assert r.status_code < 500, r.get_data(as_text=True)
        if r.status_code >= 400:
            assert r.mimetype == "application/problem+json"

    check()
    assert election.log("AAA", 1).tree.root() == root


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(
        [
            "checkpoint",
            "entries",
            "proof/inclusion",
            "proof/consistency",
            "receipts/0",
            "receipts/99",
            "tally",
            "checkpoints",
        ]
    ),
    st.sampled_from(["AAA", "BBB", "ZZZ", "%00", "a" * 300]),
    st.sampled_from(["1", "2", "0", "99999999999999999999"]),
    st.dictionaries(
        st.sampled_from(["size", "index", "start", "limit", "from", "to", "leaf_hash"]),
        st.text(max_size=20)
        | st.integers(-5, 10**20).map(str)
        | st.sampled_from(["²", "١", "①", "1²", "٣٤", "+1", " 1", "1_0"]),
        max_size=4,
    ),
)
def test_no_query_yields_a_500(
    setup: tuple[FlaskClient, Election, dict[str, Any]],
    path: str,
    unit: str,
    round_no: str,
    query: dict[str, str],
) -> None:
    client, _, _ = setup
    r = client.get(f"/api/v1/units/{unit}/rounds/{round_no}/{path}", query_string=query)
    assert r.status_code < 500, r.get_data(as_text=True)


@pytest.mark.parametrize("value", ["²", "١", "①", "1²", "٣", "+1", "1_000", " 1"])
@pytest.mark.parametrize(
    ("path", "name"),
    [("entries", "start"), ("entries", "limit"), ("checkpoint", "size"),
     ("proof/inclusion", "index"), ("proof/consistency", "from"), ("proof/consistency", "to")],
)
def test_query_integers_are_ascii_digits(
    setup: tuple[FlaskClient, Election, dict[str, Any]], path: str, name: str, value: str
) -> None:
    # str.isdigit() and int() take superscripts and other scripts' digits: refused as 400
    client, _, _ = setup
    r = client.get(f"/api/v1/units/AAA/rounds/1/{path}", query_string={name: value})
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data()
    assert r.get_json()["check"] == "query"


def test_a_number_too_large_to_be_finite_is_a_clear_400(
    setup: tuple[FlaskClient, Election, dict[str, Any]],
) -> None:
    """Review of issue 24: ``1e999`` reads as infinity, which no canonical JSON can write; the
    service answers 400 problem+json naming the number, never a 500, and the log is unchanged."""
    client, election, ballot = setup
    root = election.log("AAA", 1).tree.root()
    body = json.dumps(ballot).replace('"round": 1', '"round": 1e999', 1)
    assert "1e999" in body
    r = client.post("/api/v1/ballots", data=body, content_type="application/json")
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data()
    assert "the number 1e999 is not finite" in r.get_json()["detail"]
    assert election.log("AAA", 1).tree.root() == root
