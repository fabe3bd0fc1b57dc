#!/bin/sh
# /usr/bin/vigie: the frozen build lives in /opt/vigie (its libraries sit beside the executable).
exec /opt/vigie/vigie "$@"
