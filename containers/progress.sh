#!/usr/bin/env bash
# Run an image build with its whole output in a log file, printing each build step as it
# starts (with the seconds since the build began) so a long build is not minutes of silence.
#
#   containers/progress.sh LOG NAME COMMAND...
#
# Exits with COMMAND's status; on failure prints the log's last 40 lines. Understands both
# the legacy builder's `Step 5/13 : RUN ...` and BuildKit's plain `#7 [builder 3/4] RUN ...`.
# Plain bash 3.2 (macOS's) features only.
set -u

[ $# -ge 3 ] || { echo "usage: $0 LOG NAME COMMAND..." >&2; exit 2; }
log=$1 name=$2
shift 2
mkdir -p "$(dirname "$log")"
start=$SECONDS
seen=" "
legacy='^Step [0-9]+/[0-9]+ : '
buildkit='^#[0-9]+ \[[^]]*[0-9]+/[0-9]+\] '

"$@" 2>&1 | tee "$log" | while IFS= read -r line; do
    step=
    if [[ $line =~ $legacy ]]; then
        step=$line
    elif [[ $line =~ $buildkit ]]; then
        # BuildKit repeats a step's header when outputs interleave: show it once.
        id=${line%% *}
        case $seen in *" $id "*) ;; *) seen="$seen$id "; step=${line#* } ;; esac
    fi
    if [ -n "$step" ]; then
        step=$(printf '%s' "$step" | tr -s ' ')
        [ ${#step} -le 96 ] || step="${step:0:93}..."
        printf '  [%4ss] %s\n' "$((SECONDS - start))" "$step"
    fi
done
status=${PIPESTATUS[0]}

if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    [ -z "$(tail -c 1 "$log")" ] || echo
    echo "building $name failed after $((SECONDS - start)) s (whole log: $log)" >&2
    exit "$status"
fi
echo "built $name in $((SECONDS - start)) s (log: $log)"
