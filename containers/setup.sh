#!/usr/bin/env bash
# Make this machine able to build and run the images: a Docker engine and a base image.
#
#   containers/setup.sh engine          ensure `docker info` works
#   containers/setup.sh base IMAGE OUT  ensure a usable base image; write its name to OUT
#   containers/setup.sh test-deps       what tests and bench need beyond Python
#   containers/setup.sh mirror          the Debian mirror debootstrap would use (apt's own)
#
# Every wait here is bounded, so a broken machine fails with a message instead of hanging.
set -euo pipefail

ENGINE_WAIT_SECONDS=${ENGINE_WAIT_SECONDS:-60}
PULL_TIMEOUT_SECONDS=${PULL_TIMEOUT_SECONDS:-120}
LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-penguins-base:bookworm}

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

engine() {
    if timeout 20 docker info >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            say "no Docker engine: installing Debian's docker.io, docker-compose and debootstrap"
            timeout 600 apt-get update -qq
            DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
                docker.io docker-compose debootstrap >/dev/null
        else
            die "no Docker engine is running. Install Docker (Docker Desktop, or docker.io and" \
                "docker-compose on Debian/Ubuntu), start it, and run make again."
        fi
    fi
    if ! timeout 20 docker info >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "the Docker engine is installed but not running, and starting" \
            "it needs root: start it (sudo systemctl start docker) and run make again."
        say "starting dockerd in the background (log: /var/log/penguins-dockerd.log)"
        nohup dockerd >/var/log/penguins-dockerd.log 2>&1 &
        local deadline=$((SECONDS + ENGINE_WAIT_SECONDS))
        until timeout 10 docker info >/dev/null 2>&1; do
            [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not answer within" \
                "${ENGINE_WAIT_SECONDS}s; see /var/log/penguins-dockerd.log"
            sleep 1
        done
    fi
    say "Docker engine ready ($(docker version --format '{{.Server.Version}}'))"
}

# The Debian mirror this machine's apt already uses, so the repo names no host. Every enabled
# `deb` entry of the sources (one-line `deb [options] URI suite components` and deb822 .sources
# stanzas, in apt's order) is a candidate when its suite is a release (no -security, -updates,
# -backports), it has component main and it is signed by Debian's archive keyring or names no
# key (a third-party source has its own Signed-By). bookworm's entry wins, else the first;
# DEBIAN_MIRROR overrides the parse.
APT_SOURCES_DIR=${APT_SOURCES_DIR:-/etc/apt}

apt_sources() {
    local files=()
    [ -f "$APT_SOURCES_DIR/sources.list" ] && files+=("$APT_SOURCES_DIR/sources.list")
    local file
    for file in "$APT_SOURCES_DIR"/sources.list.d/*; do
        case "$file" in *.list | *.sources) [ -f "$file" ] && files+=("$file") ;; esac
    done
    [ ${#files[@]} -gt 0 ] || return 0
    # Prints "URI SUITE COMPONENTS(comma-joined) KEYRING(or -)" per enabled deb entry.
    awk '
        function emit(types, uris, suites, components, key,   t, u, s, nt, nu, ns, i, j, k) {
            nt = split(types, t, /[ \t]+/); nu = split(uris, u, /[ \t]+/)
            ns = split(suites, s, /[ \t]+/)
            gsub(/^[ \t]+|[ \t]+$/, "", components); gsub(/[ \t]+/, ",", components)
            if (key == "") key = "-"
            for (i = 1; i <= nt; i++) if (t[i] == "deb")
                for (j = 1; j <= nu; j++) if (u[j] != "")
                    for (k = 1; k <= ns; k++) if (s[k] != "")
                        print u[j], s[k], (components == "" ? "-" : components), key
        }
        function stanza_end() {
            if (have && tolower(f["enabled"]) != "no")
                emit(f["types"], f["uris"], f["suites"], f["components"], f["signed-by"])
            delete f; have = 0; last = ""
        }
        FNR == 1 && NR > 1 && deb822 { stanza_end() }
        FNR == 1 { deb822 = (FILENAME ~ /\.sources$/) }
        deb822 {
            if ($0 ~ /^#/) next
            if ($0 ~ /^[ \t]*$/) { stanza_end(); next }
            if ($0 ~ /^[ \t]/) {  # a continuation: an inline key block is no keyring path
                if (last == "signed-by") f["signed-by"] = "inline"
                next
            }
            name = tolower(substr($0, 1, index($0, ":") - 1)); value = substr($0, index($0, ":") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", value)
            if (name == "signed-by" && value == "") value = "inline"
            f[name] = value; last = name; have = 1
            next
        }
        {
            line = $0; sub(/#.*/, "", line)
            n = split(line, w, /[ \t]+/); i = 1
            if (w[i] == "") i++
            if (i > n) next
            type = w[i++]; key = ""
            if (substr(w[i], 1, 1) == "[") {  # options, possibly spread over several words
                options = ""
                while (i <= n) { options = options " " w[i]; if (w[i] ~ /\]$/) { i++; break }; i++ }
                gsub(/[][]/, " ", options)
                m = split(options, o, /[ \t]+/)
                for (j = 1; j <= m; j++) if (tolower(o[j]) ~ /^signed-by=/) key = substr(o[j], 11)
            }
            uri = w[i++]; suite = w[i++]; components = ""
            for (; i <= n; i++) components = components " " w[i]
            if (uri != "" && suite != "") emit(type, uri, suite, components, key)
        }
        END { if (deb822) stanza_end() }
    ' "${files[@]}"
}

apt_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$DEBIAN_MIRROR"
        return 0
    fi
    local uri
    uri=$(apt_sources | awk '
        $2 !~ /[-\/]/ && ("," $3 ",") ~ /,main,/ \
            && ($4 == "-" || $4 ~ /(^|\/)debian-archive-[^\/]*$/) {
            if ($2 == "bookworm") { print $1; found = 1; exit }
            if (first == "") first = $1
        }
        END { if (!found && first != "") print first }')
    [ -n "$uri" ] || die "cannot find a Debian mirror (suite bookworm or another release, component" \
        "main, Debian's keyring) in $APT_SOURCES_DIR/sources.list*; set DEBIAN_MIRROR," \
        "e.g. DEBIAN_MIRROR=http://deb.debian.org/debian"
    printf '%s\n' "$uri"
}

# A stand-in for python:3.11-slim-bookworm built from Debian's archive, for machines that
# cannot reach a registry: Debian's python3 (3.11 on bookworm) with venv and CA certificates.
build_local_base() {
    command -v debootstrap >/dev/null 2>&1 || {
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq debootstrap >/dev/null
        else
            die "cannot pull the base image and debootstrap is not installed to build one"
        fi
    }
    local mirror root
    mirror=$(apt_mirror)
    root=$(mktemp -d /var/tmp/penguins-base.XXXXXX)
    say "building $LOCAL_BASE_IMAGE from Debian bookworm (debootstrap, mirror from apt sources)"
    timeout 900 debootstrap --variant=minbase \
        --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" \
        >/var/tmp/penguins-debootstrap.log 2>&1 \
        || { rm -rf "$root"; die "debootstrap failed; see /var/tmp/penguins-debootstrap.log"; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/*
    tar -C "$root" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        - "$LOCAL_BASE_IMAGE" >/dev/null
    rm -rf "$root"
}

base() {
    local wanted=$1 out=$2
    local chosen=$wanted
    # The choice of an earlier run stands while its image is here: no pull attempt and no
    # notice on every make run (make clean removes the choice).
    if [ -s "$out" ] && [ "$(cat "$out.for" 2>/dev/null)" = "$wanted" ] \
        && docker image inspect "$(cat "$out")" >/dev/null 2>&1; then
        return 0
    fi
    if docker image inspect "$wanted" >/dev/null 2>&1; then
        :
    elif timeout "$PULL_TIMEOUT_SECONDS" docker pull -q "$wanted" >/dev/null 2>&1; then
        say "pulled $wanted"
    else
        chosen=$LOCAL_BASE_IMAGE
        if docker image inspect "$chosen" >/dev/null 2>&1; then
            say "cannot pull $wanted; using the local base $chosen"
        else
            say "cannot pull $wanted"
            build_local_base
        fi
    fi
    mkdir -p "$(dirname "$out")"
    printf '%s\n' "$chosen" >"$out.tmp" && mv "$out.tmp" "$out"
    printf '%s\n' "$wanted" >"$out.for"
    say "base image: $chosen"
}

# docker-registry: a real registry for the push test; wrk: the load generator of make bench.
test_deps() {
    local missing=()
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    [ ${#missing[@]} -gt 0 ] || return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        say "installing Debian's ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" \
            >/dev/null 2>&1 || { timeout 600 apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" \
            >/dev/null; } || die "could not install ${missing[*]}"
    else
        say "not installed: ${missing[*]} (the push test is skipped outside CI; make bench needs wrk)"
    fi
}

case "${1:-}" in
    engine) engine ;;
    test-deps) test_deps ;;
    mirror) apt_mirror ;;
    base) [ $# -eq 3 ] || die "usage: $0 base IMAGE OUTFILE"; base "$2" "$3" ;;
    *) die "usage: $0 engine | base IMAGE OUTFILE | test-deps | mirror" ;;
esac
