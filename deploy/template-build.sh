# shellcheck shell=bash
# build_template: build a template once with debootstrap and keep it (sourced by the
# deploy/template-<name>.sh scripts, not run). Reads ALIAS, EXTRA_ALIASES (JSON
# array), PACKAGES (comma-separated, for debootstrap), optional APT_PACKAGES
# (space-separated, installed afterwards with apt-get's full resolver and no
# Recommends: debootstrap's own resolver takes the first alternative of every
# dependency and pulls compilers and -dev packages into a plotting stack), optional
# POST_CHROOT (a smoke test run inside), and RECIPE; a later run reuses the template
# while the recipe hash matches. The rootfs gets user `user` (uid 1000, passwordless sudo)
# and is shifted into the sandbox uid range (host uid = 100000 + sandbox uid) so that
# a user-namespaced sandbox sees correct owners and setuid sudo works.

# The packages of `base`, which every template starts from (cube-envd and cube-ci
# need libevent and jansson; the sanitizer runtimes serve SAN=1 builds).
# shellcheck disable=SC2034 # used by the template scripts
# Part of every template's recipe: bump it when build_template changes what every
# rootfs gets, so existing templates are rebuilt (v2: /etc/profile without `id -u`;
# v3: root's .profile runs mesg only on a terminal).
# shellcheck disable=SC2034 # used by the template scripts
TEMPLATE_LAYOUT=v3
TEMPLATE_BASE_PACKAGES="bash,coreutils,python3,sudo,git,curl,procps,iproute2,ca-certificates,libevent-2.1-7,libevent-core-2.1-7,libjansson4,libasan8,libubsan1,less,findutils,ncurses-bin"

build_template() {
    local hash tdir meta d tid work
    hash=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)
    tdir="$CUBE_STATE/templates"
    mkdir -p "$tdir"

    for meta in "$tdir"/*/template.json; do
        [ -f "$meta" ] || continue
        d=$(dirname "$meta")
        if grep -q "\"alias\": *\"$ALIAS\"" "$meta" && [ -f "$d/.complete" ] &&
            [ "$(cat "$d/.complete")" = "$hash" ]; then
            # Names can change without a rebuild.
            jq -c --argjson a "$EXTRA_ALIASES" '.aliases = $a' "$meta" >"$meta.tmp" && mv "$meta.tmp" "$meta"
            say "template '$ALIAS' is ready ($(basename "$d")), reusing it"
            return 0
        fi
    done

    tid=$(gen_id 20)
    # Leftovers of an interrupted build of this alias only: another template may be
    # building next to us.
    rm -rf "$tdir/.build-$ALIAS-"*
    work="$tdir/.build-$ALIAS-$tid"
    mkdir -p "$work"
    say "building template '$ALIAS' ($tid) with debootstrap; this takes a few minutes the first time"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$work/rootfs" "$(debian_mirror)" 2>&1 |
        grep --line-buffered -E '^(I: (Retrieving|Extracting|Installing|Configuring|Unpacking|Base system)|E:)' |
        awk '{ n[$2]++; if (n[$2] == 1 || n[$2] % 20 == 0) { printf "  %s (%d)\n", $0, n[$2]; fflush() } }'
    [ -x "$work/rootfs/bin/bash" ] || die "debootstrap failed"

    say "configuring user 'user' and sudo"
    chroot "$work/rootfs" /bin/bash -e <<'CHROOT'
useradd --uid 1000 --create-home --home-dir /home/user --shell /bin/bash user
printf 'user ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/user
chmod 0440 /etc/sudoers.d/user
echo 'Defaults !requiretty' > /etc/sudoers.d/cube
chmod 0440 /etc/sudoers.d/cube
ln -sf python3 /usr/bin/python
# Every command the E2B SDK runs is `bash -l -c ...`, and Debian's /etc/profile forks
# and execs `id -u` for each (~7 ms here, more than bash itself); bash already knows
# its EUID, other shells still ask id.
sed -i 's/"$(id -u)"/"${EUID:-$(id -u)}"/' /etc/profile
grep -q 'EUID:-' /etc/profile
# Root's login shells ran `mesg n` (another fork and exec, ~6 ms) even without a
# terminal, where it can only fail; test for one with the shell's own [ -t 0 ].
sed -i 's/^mesg n 2> \/dev\/null || true$/[ -t 0 ] \&\& mesg n 2> \/dev\/null || true/' /root/.profile
grep -q '^\[ -t 0 \] && mesg n' /root/.profile
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
CHROOT
    if [ -n "${APT_PACKAGES:-}" ]; then
        say "installing $APT_PACKAGES"
        cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
        chroot "$work/rootfs" /bin/bash -e -c "export DEBIAN_FRONTEND=noninteractive
apt-get -q update >/dev/null
apt-get -q install -y --no-install-recommends $APT_PACKAGES >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log"
    fi
    if [ -n "${POST_CHROOT:-}" ]; then
        chroot "$work/rootfs" /bin/bash -e -c "$POST_CHROOT"
    fi
    mkdir -p "$work/rootfs/.cube/bin"
    : >"$work/rootfs/etc/resolv.conf"

    say "shifting ownership into the sandbox uid range (+$CUBE_UID_SHIFT)"
    # chown clears setuid/setgid bits, so remember them and put them back.
    find "$work/rootfs" -xdev -perm /6000 -type f -printf '%m %p\n' >"$work/setid.txt"
    find "$work/rootfs" -xdev -printf '%U:%G\n' | sort -u | while IFS=: read -r u g; do
        chown -R -h --from="$u:$g" "$((u + CUBE_UID_SHIFT)):$((g + CUBE_UID_SHIFT))" "$work/rootfs"
    done
    while read -r mode path; do chmod "$mode" "$path"; done <"$work/setid.txt"
    rm -f "$work/setid.txt"

    cat >"$work/template.json" <<JSON
{"templateID": "$tid", "alias": "$ALIAS", "aliases": $EXTRA_ALIASES, "cpuCount": 2, "memoryMB": ${MEMORY_MB:-512},
 "diskSizeMB": 2048, "envdVersion": "0.6.13", "uidShift": $CUBE_UID_SHIFT}
JSON
    echo "$hash" >"$work/.complete"
    # Drop older builds of the same alias, then publish atomically.
    for meta in "$tdir"/*/template.json; do
        [ -f "$meta" ] || continue
        grep -q "\"alias\": *\"$ALIAS\"" "$meta" && rm -rf "$(dirname "$meta")"
    done
    mv "$work" "$tdir/$tid"
    say "template '$ALIAS' ready: $tdir/$tid ($(du -sh "$tdir/$tid/rootfs" | cut -f1))"
}
