"""Hypothesis strategies and a call helper shared by the reward property tests."""

from hypothesis import strategies as st

from grpo_bt_rm.rewards import BTRewardSettings, bt_rewards

PREF = (0, 1, 1, 0)  # preferred side of pairs 0..3
score = st.one_of(st.none(), st.integers(0, 100))
completion = st.tuples(st.integers(0, 3), st.integers(0, 1), score)  # (pair, side, score or None)
reward_settings = st.builds(
    BTRewardSettings,
    parser=st.just("score100_first"),
    delta_temp=st.floats(0.01, 100),
    delta_clip=st.one_of(st.just(0.0), st.floats(0.1, 20)),
    delta_neg_clip=st.one_of(st.just(0.0), st.floats(0.1, 20)),
    reward_scale=st.floats(0.01, 10),
    reward_offset=st.floats(-10, 10),
)


def call(variant, rows, s, pref=PREF):
    """bt_rewards over rows of (pair, side, score or None); pair p's preferred side is pref[p]."""
    return bt_rewards(variant, ["junk" if z is None else f"<s>{z}</s>" for _, _, z in rows],
                      pair_id=[p for p, _, _ in rows], side=[sd for _, sd, _ in rows],
                      preferred_side=[pref[p] for p, _, _ in rows], settings=s,
                      density_weight=[0.5 + p for p, _, _ in rows])
