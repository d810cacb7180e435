#include "slots.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slots_init(struct slot_alloc *s, int min, int max)
{
    memset(s, 0, sizeof(*s));
    if (min < 0 || max >= SLOT_COUNT || min > max)
        return -1;
    s->min = min;
    s->max = max;
    s->next = min;
    return 0;
}

int slots_is_used(const struct slot_alloc *s, int slot)
{
    if (slot < 0 || slot >= SLOT_COUNT)
        return 0;
    return (int)((s->bits[slot / 64] >> (slot % 64)) & 1); /* 0 or 1 */
}

static void set_bit(struct slot_alloc *s, int slot, int on)
{
    uint64_t m = (uint64_t)1 << (slot % 64);

    if (on)
        s->bits[slot / 64] |= m;
    else
        s->bits[slot / 64] &= ~m;
}

int slots_alloc(struct slot_alloc *s)
{
    int span = s->max - s->min + 1;
    int i;

    /* Round-robin rather than lowest-free: a just-released slot is reused last, so a
     * late packet or a slow `ip link del` of a dead sandbox's veth does not collide
     * with the next sandbox's setup. Linear scan is fine for 16384 bits. */
    for (i = 0; i < span; i++) {
        int slot = s->min + (s->next - s->min + i) % span;
        if (!slots_is_used(s, slot)) {
            set_bit(s, slot, 1);
            s->used++;
            s->next = slot == s->max ? s->min : slot + 1;
            return slot;
        }
    }
    return -1;
}

int slots_reserve(struct slot_alloc *s, int slot)
{
    if (slot < s->min || slot > s->max || slots_is_used(s, slot))
        return -1;
    set_bit(s, slot, 1);
    s->used++;
    return 0;
}

void slots_release(struct slot_alloc *s, int slot)
{
    if (slot < s->min || slot > s->max || !slots_is_used(s, slot))
        return;
    set_bit(s, slot, 0);
    s->used--;
}

static int slot_addr(int slot, int host_part, char *out)
{
    unsigned v;

    if (slot < 0 || slot >= SLOT_COUNT)
        return -1;
    v = (unsigned)slot * 4 + (unsigned)host_part; /* offset inside 100.96.0.0/16 */
    snprintf(out, SLOT_ADDR_LEN, "100.96.%u.%u", v >> 8, v & 0xff);
    return 0;
}

int slot_host_addr(int slot, char *out)
{
    return slot_addr(slot, 1, out);
}

int slot_sandbox_addr(int slot, char *out)
{
    return slot_addr(slot, 2, out);
}

/* One field as sscanf's "%3u" reads it: white space skipped, then at most
 * three characters (sign included) converted. -1 if there is no number. */
static int scan_u3(const char **sp, unsigned *out)
{
    const char *s = *sp;
    char field[4], *end;
    size_t n = 0;

    while (isspace((unsigned char)*s))
        s++;
    while (n < 3 && s[n] != '\0') {
        field[n] = s[n];
        n++;
    }
    field[n] = '\0';
    *out = (unsigned)strtoul(field, &end, 10);
    if (end == field)
        return -1;
    *sp = s + (end - field);
    return 0;
}

int slot_from_sandbox_addr(const char *addr)
{
    unsigned v[4];
    const char *p = addr;
    unsigned a, b, c, d;

    for (int i = 0; i < 4; i++) {
        if (scan_u3(&p, &v[i]) < 0)
            return -1;
        if (i < 3 && *p++ != '.')
            return -1;
    }
    if (*p != '\0') /* "%c" would have matched something: trailing junk */
        return -1;
    a = v[0];
    b = v[1];
    c = v[2];
    d = v[3];
    if (a != 100 || b != 96 || c > 255 || d > 255 || (d & 3) != 2)
        return -1;
    return (int)((c << 8 | d) >> 2);
}

int slot_ifname(int slot, char *out, int outlen)
{
    int n;

    if (slot < 0 || slot >= SLOT_COUNT)
        return -1;
    n = snprintf(out, (size_t)outlen, "vh%d", slot);
    return n > 0 && n < outlen ? 0 : -1;
}
