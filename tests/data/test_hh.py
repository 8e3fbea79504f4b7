import pytest

from grpo_bt_rm.data.hh import hh_pair, split_turns
from grpo_bt_rm.data.pairs import Drop
from tests.data.rawfixtures import hh_transcript as T


def test_single_turn():
    ctx, c, r = hh_pair(T(("Human", "hi"), ("Assistant", "hello!")), T(("Human", "hi"), ("Assistant", "go away")))
    assert (ctx, c, r) == ("Human: hi", "hello!", "go away")


def test_multi_turn_keeps_every_earlier_turn():
    prefix = [("Human", "q1"), ("Assistant", "a1"), ("Human", "q2")]
    ctx, c, r = hh_pair(T(*prefix, ("Assistant", "good")), T(*prefix, ("Assistant", "bad")))
    assert ctx == "Human: q1\n\nAssistant: a1\n\nHuman: q2"
    assert (c, r) == ("good", "bad")


def test_repeated_earlier_assistant_turn():
    # The final response repeats an earlier assistant turn verbatim; only the *final* turn is the response.
    prefix = [("Human", "q1"), ("Assistant", "Sure."), ("Human", "q2")]
    ctx, c, r = hh_pair(T(*prefix, ("Assistant", "Sure.")), T(*prefix, ("Assistant", "No.")))
    assert ctx == "Human: q1\n\nAssistant: Sure.\n\nHuman: q2"
    assert (c, r) == ("Sure.", "No.")


def test_response_with_inline_role_words_not_split():
    ctx, c, _ = hh_pair(T(("Human", "x"), ("Assistant", "The Human: said hi")), T(("Human", "x"), ("Assistant", "no")))
    assert c == "The Human: said hi"


@pytest.mark.parametrize(
    "chosen,rejected,reason",
    [
        (T(("Human", "a"), ("Assistant", "x")), T(("Human", "b"), ("Assistant", "y")), "prefix_mismatch"),
        (T(("Human", "a"), ("Assistant", "x"), ("Human", "more")), T(("Human", "a"), ("Assistant", "y")),
         "no_final_assistant"),
        (T(("Human", "a"), ("Assistant", "x")), T(("Human", "a"), ("Assistant", "   ")), "empty_response"),
        (T(("Human", "a"), ("Assistant", "same")), T(("Human", "a"), ("Assistant", "same")), "identical"),
        ("no markers at all", T(("Human", "a"), ("Assistant", "y")), "malformed_transcript"),
    ],
)
def test_drop_reasons(chosen, rejected, reason):
    with pytest.raises(Drop) as e:
        hh_pair(chosen, rejected)
    assert e.value.reason == reason


def test_split_turns_order():
    assert split_turns(T(("Human", "a"), ("Assistant", "b"))) == [("Human", "a"), ("Assistant", "b")]
