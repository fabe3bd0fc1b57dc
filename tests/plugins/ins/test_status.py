from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.ins.status import (
    ATTRIBUTES,
    DOUTEUX,
    FICTIF,
    HOMONYME,
    TRANSITIONS,
    Status,
    after_document_check,
    after_insi_success,
    attribute_errors,
    blocking,
    can_transition,
    insi_allowed,
)

P, R, V, Q = Status.PROV, Status.RECUP, Status.VALI, Status.QUAL


def test_status_is_a_string() -> None:
    assert [s.value for s in Status] == ["PROV", "RECUP", "VALI", "QUAL"]
    assert Status("RECUP") is R and R == "RECUP" and isinstance(R, str)


# Every pair (before, after): allowed without attributes? allowed with douteux/fictif?
@pytest.mark.parametrize(
    ("before", "after", "plain", "doubtful"),
    [
        (P, P, True, True), (P, R, True, False), (P, V, True, False), (P, Q, False, False),
        (R, P, True, True), (R, R, True, False), (R, V, False, False), (R, Q, True, False),
        (V, P, True, True), (V, R, False, False), (V, V, True, False), (V, Q, True, False),
        (Q, P, True, True), (Q, R, False, False), (Q, V, True, False), (Q, Q, True, False),
    ],
)
def test_can_transition_every_pair(before: Status, after: Status, plain: bool, doubtful: bool) -> None:
    assert can_transition(before, after) is plain
    assert can_transition(before, after, [HOMONYME]) is plain  # homonyme changes nothing
    assert can_transition(before, after, [DOUTEUX]) is doubtful
    assert can_transition(before, after, [FICTIF]) is doubtful
    assert can_transition(before, after, [DOUTEUX, HOMONYME]) is doubtful


def test_transition_table_is_documented() -> None:
    assert all(before is not after and reason for (before, after), reason in TRANSITIONS.items())


@pytest.mark.parametrize(
    ("status", "consistent", "expected"),
    [
        (P, True, R),  # PROV + INSi OK → RECUP
        (V, True, Q),  # VALI + INSi OK with consistent traits → QUAL
        (R, True, R),
        (Q, True, Q),
        (P, False, P),  # a discordant answer needs a manual decision: nothing gained…
        (V, False, V),
        (R, False, P),  # …and the INSi component an earlier answer gave is lost
        (Q, False, V),
    ],
)
def test_after_insi_success(status: Status, consistent: bool, expected: Status) -> None:
    assert after_insi_success(status, [], consistent=consistent) is expected
    assert after_insi_success(status, [HOMONYME], consistent=consistent) is expected
    for attrs in ([DOUTEUX], [FICTIF], [DOUTEUX, HOMONYME]):
        assert after_insi_success(status, attrs, consistent=consistent) is P  # douteux/fictif force PROV


@pytest.mark.parametrize(("status", "expected"), [(P, V), (R, Q), (V, V), (Q, Q)])
def test_after_document_check(status: Status, expected: Status) -> None:
    assert after_document_check(status, []) is expected
    assert after_document_check(status, [HOMONYME]) is expected
    assert after_document_check(status, [DOUTEUX]) is P
    assert after_document_check(status, [FICTIF]) is P


@pytest.mark.parametrize(
    ("attributes", "allowed"),
    [([], True), ([HOMONYME], True), ([DOUTEUX], False), ([FICTIF], False), ([DOUTEUX, HOMONYME], False)],
)
def test_insi_allowed(attributes: list[str], allowed: bool) -> None:
    for status in Status:  # a QUAL identity may be re-checked; the service decides when
        assert insi_allowed(status, attributes) is allowed
    assert blocking(attributes) is not allowed


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ([], []),
        ([HOMONYME], []),
        ([DOUTEUX], []),
        ([FICTIF], []),
        ([DOUTEUX, HOMONYME], []),  # the only combination allowed
        ([FICTIF, HOMONYME], ["attributs incompatibles : fictif + homonyme"]),
        ([FICTIF, DOUTEUX], ["attributs incompatibles : douteux + fictif"]),
        (["inconnu"], ["attribut inconnu « inconnu »"]),
    ],
)
def test_attribute_errors(attributes: list[str], expected: list[str]) -> None:
    errors = attribute_errors(attributes)
    assert len(errors) == len(expected)
    assert all(e.startswith(x) for e, x in zip(errors, expected, strict=True))


@given(st.sampled_from(list(Status)), st.lists(st.sampled_from(ATTRIBUTES), max_size=2, unique=True),
       st.booleans())
def test_helpers_only_make_allowed_moves(status: Status, attributes: list[str], consistent: bool) -> None:
    for after in (after_insi_success(status, attributes, consistent=consistent),
                  after_document_check(status, attributes)):
        if blocking(attributes):
            assert after is P
        else:
            assert can_transition(status, after, attributes)
