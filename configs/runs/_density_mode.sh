# Sourced by the density presets (hh_density.env, demo_cpu_density.env), not a preset itself: the one place where
# DENSITY_MODE picks the arm of the density experiment, i.e. the reward and the pair sampling (docs/density.md).
# Returns 1 on an unknown mode, and the preset stops:
#   source .../_density_mode.sh || { return 1 2>/dev/null || exit 1; }
export DENSITY_MODE="${DENSITY_MODE:-advantage}"
case "$DENSITY_MODE" in
  advantage) export REWARD_NAME=bt_pointwise_density BT_PAIR_SAMPLING=uniform ;;
  sampling)  export REWARD_NAME=bt_pointwise_baseline BT_PAIR_SAMPLING=weighted ;;
  uniform)   export REWARD_NAME=bt_pointwise_baseline BT_PAIR_SAMPLING=uniform ;;
  *) echo "error: DENSITY_MODE=$DENSITY_MODE: expected advantage, sampling or uniform" >&2; return 1 ;;
esac
