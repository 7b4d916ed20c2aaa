# shellcheck shell=bash
# snapshot: records the working tree; $1 is the message.
repo 1
who
take "$1" ""
