#!/usr/bin/env bash
# Builds the `base` template once: a minimal Debian bookworm rootfs made with
# debootstrap (see template-build.sh). A later run reuses it.
# shellcheck disable=SC2034 # the settings are read by build_template
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/template-build.sh"

ALIAS=base
# code-interpreter-v1 / code-interpreter belong to template-code-interpreter.sh.
EXTRA_ALIASES='[]'
PACKAGES=$TEMPLATE_BASE_PACKAGES
RECIPE="$TEMPLATE_LAYOUT:$PACKAGES:user=1000:shift=$CUBE_UID_SHIFT"
build_template
