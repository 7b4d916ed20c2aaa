# shellcheck shell=bash
# snapshot ls: one line per snapshot.
repo 0
g for-each-ref --format='%(refname:lstrip=3)%09%(objectname)%09%(creatordate:iso-strict)%09%(contents:subject)' refs/dockerbridge/snapshots/
