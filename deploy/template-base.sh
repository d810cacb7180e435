#!/usr/bin/env bash
# Builds the `base` template once: a Debian bookworm rootfs made with debootstrap,
# with user `user` (uid 1000, passwordless sudo), shifted into the sandbox uid range
# (host uid = 100000 + sandbox uid) so that a user-namespaced sandbox sees correct
# owners and setuid sudo works. A later run reuses it (the recipe hash must match).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ALIAS=base
# The base rootfs also serves as the code-interpreter template (cube-ci runs in every
# sandbox; python3 is in base), so @e2b/code-interpreter's default template resolves.
EXTRA_ALIASES='["code-interpreter-v1", "code-interpreter"]'
PACKAGES="bash,coreutils,python3,sudo,git,curl,procps,iproute2,ca-certificates,libevent-2.1-7,libevent-core-2.1-7,libjansson4,libasan8,libubsan1,less,findutils,ncurses-bin"
RECIPE="v1:$PACKAGES:user=1000:shift=$CUBE_UID_SHIFT"
RECIPE_HASH=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)
TDIR="$CUBE_STATE/templates"
mkdir -p "$TDIR"

for meta in "$TDIR"/*/template.json; do
    [ -f "$meta" ] || continue
    d=$(dirname "$meta")
    if grep -q "\"alias\": *\"$ALIAS\"" "$meta" && [ -f "$d/.complete" ] &&
        [ "$(cat "$d/.complete")" = "$RECIPE_HASH" ]; then
        # Names can change without a rebuild.
        jq -c --argjson a "$EXTRA_ALIASES" '.aliases = $a' "$meta" >"$meta.tmp" && mv "$meta.tmp" "$meta"
        say "template '$ALIAS' is ready ($(basename "$d")), reusing it"
        exit 0
    fi
done

TID=$(gen_id 20)
WORK="$TDIR/.build-$TID"
rm -rf "$TDIR"/.build-*
mkdir -p "$WORK"
say "building template '$ALIAS' ($TID) with debootstrap; this takes a few minutes the first time"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$WORK/rootfs" "$(debian_mirror)" 2>&1 |
    grep --line-buffered -E '^I: (Retrieving|Extracting|Installing|Configuring|Unpacking|Base system)' |
    awk '{ n[$2]++; if (n[$2] == 1 || n[$2] % 20 == 0) { printf "  %s (%d)\n", $0, n[$2]; fflush() } }'
[ -x "$WORK/rootfs/bin/bash" ] || die "debootstrap failed"

say "configuring user 'user' and sudo"
chroot "$WORK/rootfs" /bin/bash -e <<'CHROOT'
useradd --uid 1000 --create-home --home-dir /home/user --shell /bin/bash user
printf 'user ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/user
chmod 0440 /etc/sudoers.d/user
echo 'Defaults !requiretty' > /etc/sudoers.d/cube
chmod 0440 /etc/sudoers.d/cube
ln -sf python3 /usr/bin/python
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
CHROOT
mkdir -p "$WORK/rootfs/.cube/bin"
: > "$WORK/rootfs/etc/resolv.conf"

say "shifting ownership into the sandbox uid range (+$CUBE_UID_SHIFT)"
# chown clears setuid/setgid bits, so remember them and put them back.
find "$WORK/rootfs" -xdev -perm /6000 -type f -printf '%m %p\n' >"$WORK/setid.txt"
find "$WORK/rootfs" -xdev -printf '%U:%G\n' | sort -u | while IFS=: read -r u g; do
    chown -R -h --from="$u:$g" "$((u + CUBE_UID_SHIFT)):$((g + CUBE_UID_SHIFT))" "$WORK/rootfs"
done
while read -r mode path; do chmod "$mode" "$path"; done <"$WORK/setid.txt"
rm -f "$WORK/setid.txt"

cat >"$WORK/template.json" <<JSON
{"templateID": "$TID", "alias": "$ALIAS", "aliases": $EXTRA_ALIASES, "cpuCount": 2, "memoryMB": 512,
 "diskSizeMB": 2048, "envdVersion": "0.6.13", "uidShift": $CUBE_UID_SHIFT}
JSON
echo "$RECIPE_HASH" >"$WORK/.complete"
# Drop older builds of the same alias, then publish atomically.
for meta in "$TDIR"/*/template.json; do
    [ -f "$meta" ] || continue
    grep -q "\"alias\": *\"$ALIAS\"" "$meta" && rm -rf "$(dirname "$meta")"
done
mv "$WORK" "$TDIR/$TID"
say "template '$ALIAS' ready: $TDIR/$TID ($(du -sh "$TDIR/$TID/rootfs" | cut -f1))"
