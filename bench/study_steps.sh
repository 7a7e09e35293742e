# Sourced by the study scripts (bench/quality_*.sh, bench/loop.sh): `run_steps FROM [TO]` runs
# the caller's study, the command in the array `Q` followed by each entry of the array `steps`,
# from step FROM (default 1) to step TO (default the last), naming each step and its start time,
# so a study cut short resumes where it left.
run_steps() {
  local from=${1:-1} to=${2:-${#steps[@]}} i
  for i in "${!steps[@]}"; do
    [ $((i + 1)) -lt "$from" ] && continue
    [ $((i + 1)) -gt "$to" ] && continue
    echo "=== step $((i + 1)): ${steps[$i]} ($(date +%T))"
    # shellcheck disable=SC2086 # the step's words are separate arguments
    "${Q[@]}" ${steps[$i]}
  done
}
