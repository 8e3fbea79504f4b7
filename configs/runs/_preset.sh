# Sourced by every preset in this folder (not a preset itself). Makes re-sourcing presets in one shell safe:
# a variable the previous preset set, and that still holds the value it set, is a leftover and is unset before
# the next preset runs, so every value a preset derives comes from this preset's inputs (a value the user set
# or changed in between is kept as an input). `gbr_preset_end` records what this preset set.
#   source "$(dirname "${BASH_SOURCE[0]}")/_preset.sh"   # first line of a preset
#   gbr_preset_end                                        # last line

for _gbr_v in ${GBR_PRESET_OWNED:-}; do
  _gbr_rec="GBR_PRESET_VALUE_$_gbr_v"
  if [ -n "${!_gbr_v+x}" ] && [ "${!_gbr_v}" = "${!_gbr_rec-}" ]; then unset "$_gbr_v"; fi
  unset "$_gbr_rec"
done
unset GBR_PRESET_OWNED _gbr_v _gbr_rec
_GBR_PRESET_BEFORE="$(export -p)"

gbr_preset_end() {
  local v line owned=""
  for v in $(compgen -e); do
    case "$v" in GBR_PRESET_*|_*) continue ;; esac
    line="$(export -p | grep -E "^declare -x $v=" || true)"
    if ! grep -qxF -- "$line" <<<"$_GBR_PRESET_BEFORE"; then
      owned="$owned $v"
      export "GBR_PRESET_VALUE_$v=${!v}"
    fi
  done
  export GBR_PRESET_OWNED="${owned# }"
  unset _GBR_PRESET_BEFORE
}

# gbr_preset_base <preset>: source another preset as this one's base (after this file, before the deltas); what the
# base sets counts as this preset's own, so re-sourcing any preset afterwards still leaves no leftovers.
gbr_preset_base() {
  local before="$_GBR_PRESET_BEFORE"
  # shellcheck disable=SC1090
  source "$1"
  _GBR_PRESET_BEFORE="$before"
}
