import pytest

from grpo_bt_rm.data import ADAPTERS, build_dataset
from grpo_bt_rm.parsing import PARSERS, SCALES, format_tag, get_parser
from grpo_bt_rm.prompts import PROMPTS, PromptSpec, default_prompt, find_prompt, get_prompt, register_prompt

REQUIRED = (
    ["score100_v1"]
    + [f"score5_v{i}" for i in range(1, 5)]
    + [f"hh_score100_v{i}" for i in range(1, 5)]
    + [f"hh_score5_v{i}" for i in range(1, 5)]
    + ["hh_score100_scoreonly"]
)


def test_required_prompts_registered():
    assert set(REQUIRED) <= set(PROMPTS.names())


@pytest.mark.parametrize("name", PROMPTS.names())
def test_prompt_contract(name):
    spec = get_prompt(name)
    assert spec.name == name
    assert spec.parser in PARSERS
    assert get_parser(spec.parser).name.startswith(spec.scale)
    msgs = spec.render("CTX {not a field} here", "RESP body")
    assert msgs[-1]["role"] == "user"
    assert all(m["role"] in ("system", "user") for m in msgs)
    user = msgs[-1]["content"]
    assert "CTX {not a field} here" in user and "RESP body" in user
    assert "<s>" in user and "</s>" in user  # every prompt shows the tag format
    lo, hi = spec.score_range
    assert str(lo) in user and str(hi) in user
    if spec.order == "score_first":
        assert spec.parser.endswith("_first") and "first" in user.lower()
    elif spec.order == "reason_first":
        assert spec.parser.endswith("_last") and "last line" in user.lower()
    else:
        assert "only" in user.lower()


@pytest.mark.parametrize(
    "name,family,scale,order",
    [
        ("score100_v1", "sff", "score100", "score_first"),
        ("score5_v3", "sff", "score5", "reason_first"),
        ("hh_score100_v2", "hh", "score100", "score_first"),
        ("hh_score100_v3", "hh", "score100", "reason_first"),
        ("hh_score5_v4", "hh", "score5", "reason_first"),
        ("hh_score100_scoreonly", "hh", "score100", "score_only"),
    ],
)
def test_prompt_table(name, family, scale, order):
    spec = get_prompt(name)
    assert (spec.family, spec.scale, spec.order) == (family, scale, order)


def test_unknown_prompt_lists_valid_names():
    with pytest.raises(KeyError) as e:
        get_prompt("hh_score100_v99")
    assert "hh_score100_v1" in str(e.value)


def test_duplicate_registration_raises():
    spec = get_prompt("hh_score100_v1")
    with pytest.raises(ValueError, match="duplicate"):
        register_prompt(spec)


def test_bad_spec_rejected():
    with pytest.raises(ValueError, match="scale"):
        PromptSpec("x", 1, "hh", "score7", "score_first", "score100_first", "{context}{response}")


# --- one default prompt per family and scale, one table of scales ------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS.names())
@pytest.mark.parametrize("scale", sorted(SCALES))
def test_every_adapter_family_has_a_default_prompt(adapter, scale):
    family = ADAPTERS.get(adapter).family
    spec = default_prompt(family, scale)
    assert (spec.family, spec.scale) == (family, scale)  # never another family's prompt (sff for HH data)
    assert spec.order == "score_first" and spec.version == 1


def test_default_prompt_for_hh_data_is_the_dialogue_prompt():
    # build_dataset and eval_bt resolve --prompt through the same function; HH must not get the Reddit prompt
    assert build_dataset.default_prompt(["anthropic_hh"]) == "hh_score100_v1"
    assert build_dataset.default_prompt(["summarize_from_feedback"]) == "score100_v1"
    with pytest.raises(KeyError, match="valid"):
        default_prompt("poetry")
    with pytest.raises(KeyError, match="score100"):
        default_prompt("hh", "score7")


@pytest.mark.parametrize("name", PROMPTS.names())
def test_prompt_wording_comes_from_the_scale_table(name):
    spec = get_prompt(name)
    scale = SCALES[spec.scale]
    assert spec.score_range == (scale.low, scale.high)
    assert get_parser(spec.parser).low == scale.low and get_parser(spec.parser).high == scale.high
    user = spec.render("c", "r")[-1]["content"]
    if name not in ("generic_score100_brief", "generic_score100_check"):  # the terse ones: tags at both ends
        assert scale.wording in user and format_tag(scale.example) in user


@pytest.mark.parametrize("name", PROMPTS.names())
def test_find_prompt_inverts_render(name):
    spec = get_prompt(name)
    context, response = "Human: hi {x}\n\nAssistant: yes", "First line.\n\nSecond paragraph."
    user = spec.render(context, response)[-1]["content"]
    assert find_prompt(user) == (spec, context, response)
    assert find_prompt("system text\n" + user)[0] == spec  # a user turn inside a longer request text
    assert find_prompt("no prompt here") is None
