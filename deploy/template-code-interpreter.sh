#!/usr/bin/env bash
# Builds the `code-interpreter-v1` template (alias `code-interpreter`), the default
# of @e2b/code-interpreter's Sandbox.create(): base plus numpy, matplotlib, pandas and
# Node.js, all from Debian packages (see template-build.sh). cube-ci (bind-mounted
# like envd) drives the python3 and node the template provides. Built once (about
# 2.5 minutes here, mostly downloads; a 790 MB rootfs), then reused.
# shellcheck disable=SC2034 # the settings are read by build_template
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/template-build.sh"

ALIAS=code-interpreter-v1
EXTRA_ALIASES='["code-interpreter"]'
PACKAGES=$TEMPLATE_BASE_PACKAGES
# python3-munkres settles python3-fonttools' "scipy | munkres": scipy would pull
# pythran, g++ and boost (about 700 MB) into the template.
APT_PACKAGES="python3-numpy python3-matplotlib python3-pandas python3-munkres nodejs"
RECIPE="$TEMPLATE_LAYOUT:$PACKAGES:$APT_PACKAGES:user=1000:shift=$CUBE_UID_SHIFT"
# A smoke test of the plotting stack before the template is published.
POST_CHROOT='python3 -c "import numpy, pandas, matplotlib; matplotlib.use(\"Agg\"); import matplotlib.pyplot" && node -e 1'
MEMORY_MB=1024
build_template
