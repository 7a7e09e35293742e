# Sourced by the study scripts (bench/quality_*.sh): `run_steps FROM` runs the caller's study,
# the command in the array `Q` followed by each entry of the array `steps`, from step FROM
# (default 1), naming each step and its start time, so a study cut short resumes where it left.
run_steps() {
  local from=${1:-1} i
  for i in "${!steps[@]}"; do
    [ $((i + 1)) -lt "$from" ] && continue
    echo "=== step $((i + 1)): ${steps[$i]} ($(date +%T))"
    # shellcheck disable=SC2086 # the step's words are separate arguments
    "${Q[@]}" ${steps[$i]}
  done
}
