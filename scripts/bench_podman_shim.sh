#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# make bench: the podman the containers.podman.podman connection runs (ansible_podman_executable). Logs each
# call's argv, one line, to $ISER_OFED_BENCH_PODMAN_LOG (appended: lines this short are written atomically by
# parallel forks), then runs podman with the same arguments. bench_fleet.py podman-calls counts the lines per
# container and subcommand (exec: one command run in the container, a round trip).
if [ -n "${ISER_OFED_BENCH_PODMAN_LOG:-}" ]; then
    printf '%s\n' "$*" >>"$ISER_OFED_BENCH_PODMAN_LOG"
fi
exec podman "$@"
