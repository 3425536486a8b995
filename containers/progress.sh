#!/usr/bin/env bash
# Run an image build with its whole output in a log file, printing each build step as it
# starts (with the seconds since the build began) so a long build is not minutes of silence.
#
#   containers/progress.sh LOG NAME COMMAND...
#
# Exits with COMMAND's status; on failure prints the log's last 40 lines. Understands both
# the legacy builder's `Step 5/13 : RUN ...` and BuildKit's plain `#7 [builder 3/4] RUN ...`.
# Plain bash 3.2 (macOS's) features only (indexed arrays, no associative ones).
set -u

[ $# -ge 3 ] || { echo "usage: $0 LOG NAME COMMAND..." >&2; exit 2; }
log=$1 name=$2
shift 2
mkdir -p "$(dirname "$log")"
start=$SECONDS
seen=" "
buildkit_step=()
legacy='^Step [0-9]+/[0-9]+ : '
buildkit='^#[0-9]+ \[[^]]*[0-9]+/[0-9]+\] '

# A step is printed only once it is seen to run: the line after a legacy step header says
# "Using cache" for a cached one (dropped), and FROM or an ARG before it runs nothing.
show() {
    local step
    step=$(printf '%s' "$1" | tr -s ' ')
    [ ${#step} -le 96 ] || step="${step:0:93}..."
    printf '  [%4ss] %s\n' "$((SECONDS - start))" "$step"
}
"$@" 2>&1 | tee "$log" | {
    pending= ran=0
    while IFS= read -r line; do
        if [ -n "$pending" ]; then
            case $line in
                *"Using cache"*|Step\ *) ;;
                *) case $pending in *" : FROM "*) ;; *) show "$pending"; ran=1 ;; esac ;;
            esac
            pending=
        fi
        if [[ $line =~ $legacy ]]; then
            pending=$line
        elif [[ $line =~ $buildkit ]]; then
            # BuildKit repeats a step's header when outputs interleave: show it once, and
            # only when it is not CACHED (its next line for the same id).
            id=${line%% *}
            case $seen in *" $id "*) ;; *) seen="$seen$id "; buildkit_step[${id#\#}]=${line#* } ;; esac
        elif [[ $line =~ ^#[0-9]+\ (DONE|\[|sha256|[0-9.]+\ ) ]]; then
            id=${line%% *}; id=${id#\#}
            if [ -n "${buildkit_step[$id]:-}" ]; then show "${buildkit_step[$id]}"; ran=1; buildkit_step[$id]=; fi
        elif [[ $line =~ ^#[0-9]+\ CACHED ]]; then
            id=${line%% *}; buildkit_step[${id#\#}]=
        fi
    done
    printf '%s\n' "$ran" >"$log.ran"
}
status=${PIPESTATUS[0]}

if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    [ -z "$(tail -c 1 "$log")" ] || echo
    echo "building $name failed after $((SECONDS - start)) s (whole log: $log)" >&2
    exit "$status"
fi
# Nothing ran: one line says so, whatever the builder printed.
if [ "$(cat "$log.ran" 2>/dev/null)" = 1 ]; then
    echo "built $name in $((SECONDS - start)) s (log: $log)"
else
    echo "$name up to date"
fi
rm -f "$log.ran"
