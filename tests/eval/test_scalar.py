"""eval.scalar pieces without a model: temperature fit, and summaries holding scalar and generative results."""

import math

import pytest

from grpo_bt_rm.eval.scalar import fit_temperature
from grpo_bt_rm.eval.summary import check_same_settings
from grpo_bt_rm.io import InputError


def test_fit_temperature_minimises_the_log_loss():
    from grpo_bt_rm.eval.metrics import softplus

    d = [2.0, -1.0, 0.5, 3.0, -0.2, 1.0]
    t = fit_temperature(d)

    def loss(x):
        return sum(softplus(-v / x) for v in d) / len(d)

    assert loss(t) <= min(loss(t * 1.1), loss(t / 1.1), loss(1.0)) + 1e-9
    assert fit_temperature([]) is None
    assert math.isclose(fit_temperature([1.0, 2.0]), 1e-3, rel_tol=1e-2)  # separable: the lower bound


def result(path, scorer=None, prompt="p", n_pairs=500, ck="c"):
    r = {"_path": path, "prompt": {"name": prompt}, "parser": {"name": prompt}, "settings": {"bt_temp": 1.0},
         "data": {"dataset": "demo", "n_pairs": n_pairs}, "checkpoint": {"name": ck}}
    if scorer:
        r["scorer"] = scorer
    return r


def test_a_summary_holds_scalar_and_generative_results_on_the_same_pairs():
    gen_a, gen_b = result("a.json"), result("b.json", ck="d")
    rm = result("rm.json", scorer="scalar", prompt="scalar_rm")
    check_same_settings([gen_a, rm, gen_b])  # other scorer settings: fine
    with pytest.raises(InputError, match="rm2.json and rm.json .*prompt.name"):
        check_same_settings([gen_a, rm, result("rm2.json", scorer="scalar", prompt="other")])
    with pytest.raises(InputError, match="rm3.json and a.json .*data.n_pairs"):  # other pairs: never
        check_same_settings([gen_a, rm, result("rm3.json", scorer="scalar", prompt="scalar_rm", n_pairs=100)])
    with pytest.raises(InputError, match="c.json and a.json .*prompt.name"):  # generative as before
        check_same_settings([gen_a, result("c.json", prompt="q")])
