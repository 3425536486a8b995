#!/usr/bin/env bash
# Make this machine able to build and run the images: a Docker engine and a base image.
#
#   containers/setup.sh engine          ensure `docker info` works
#   containers/setup.sh base IMAGE OUT  ensure a usable base image; write its name to OUT
#   containers/setup.sh test-deps       what tests and bench need beyond Python
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

# The apt mirror this machine already uses, so the repo names no host.
apt_mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v security | head -n 1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            | awk '{print $2}' | grep -v security | head -n 1 || true)
    fi
    [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list*"
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
    base) [ $# -eq 3 ] || die "usage: $0 base IMAGE OUTFILE"; base "$2" "$3" ;;
    *) die "usage: $0 engine | base IMAGE OUTFILE | test-deps" ;;
esac
