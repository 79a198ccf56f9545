/* The parser's compiled fast path: a table of learned line templates, applied in C.
 *
 * A line is cut into number tokens ([0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?) and the literal text
 * between them; the literal text with every token replaced by a NUL byte is the line's *key*.
 * Lines with the same key differ only in their numbers. Python (parsing/fastpath.py) learns, for
 * a key, what the full parser does with such a line: nothing, forget the bar context, emit one
 * record (the step, each metric and the timestamp taken from given tokens), or move a progress
 * bar. It checks the template against the full parser on many variants of the line before it
 * hands the template here. This file only applies templates; every line without a template,
 * every token a template's constraints do not admit and every state it does not model goes back
 * to the Python parser (StreamParser._slow_line), so the output is the full parser's.
 *
 * The parser's context lives in Python attributes; Engine.run reads the few it models into C
 * fields, writes them back before each call into Python and at the end, and reads them again
 * after each call. No input can make this code raise: a failure declines the line to Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define MAX_TOKENS 64        /* a line with more numbers goes to Python */
#define MAX_FAST_LINE 4096   /* bytes; longer lines go to Python */
#define MAX_TEMPLATES 4096
#define MAX_CHAIN 32         /* templates per key (they differ in the forms their slots admit) */
#define MAX_INT_DIGITS 18    /* fits int64 with room; longer ints go to Python */
#define MAX_FACTOR_DIGITS 9  /* epoch and total of (epoch - base) * total + pos cannot overflow */
#define MISS_CAP (1 << 15)   /* miss counters (by key hash) that decide when Python learns */

/* which tokens a slot admits: any integer or decimal (no exponent; each run of digits up to
 * NUMBER_MAX_RUN long: `16707` and `16844.1` alike, as fairseq's %g-like values print), the same
 * form (each run of digits up to as long as the form's: `9.9e-9`), the same shape (each digit
 * any digit), or this token only */
enum { LV_NUMBER, LV_FORM, LV_SHAPE, LV_EXACT };
#define NUMBER_MAX_RUN 9     /* fastpath.FORM_MAX_TRIED: the longest run the study verifies */
enum { K_NOOP, K_DETACH, K_RECORD, K_BAR, K_BLOCKROW, K_HEADER, K_RULE, K_BLOCKOPEN };  /* what a template does */
/* where a record's step comes from: none (bars), a token, (epoch - base) * total + pos, the context
 * (StreamParser._step(None): the bar position it follows, else None; the running count declines),
 * or None (an evaluation batch counter) */
enum { ST_NONE, ST_SLOT, ST_EPT, ST_CTX, ST_NULL };
/* parser state that no template models, in which a template applies only when its line was
 * verified not to care (Python's _line reads a format's line before it looks at an open table;
 * only copypaste lines read their names): an open table (_table), copypaste names (_copy_names).
 * ASIDE_CLOSE: in an open markdown table, the line closes it (_table = None: it does not start
 * with `|`) and then does what it does where no table is open. ASIDE_CLOSE_BOX: the same in an
 * open box that holds no row yet (it is no rule and no row: _close_box emits nothing). */
enum { ASIDE_TABLE = 1, ASIDE_COPY = 2, ASIDE_CLOSE = 4, ASIDE_CLOSE_BOX = 8 };

/* A number token and what tokenize learned of it on its way, so that no one reads its digits
 * again: plain (digits only); the lengths of its runs of digits (before the `.`, after it: -1 for
 * none); whether an exponent follows, and its letter, sign and digits; and its significand and
 * power of ten as fast_double computes them (sig: its significant digits, counted past 19 where the
 * significand stops; e10: the exponent's value less the fraction's digits). */
typedef struct {
    Py_ssize_t start, end;
    int plain, ilen, flen, has_exp, elen, sig, e10;
    char echar, esign;  /* the exponent's letter and sign (0: none) */
    uint64_t m;
} Tok;

/* A slot; a FORM slot whose form is a number's (`999.99e-99`, as forms are) also as the longest runs
 * it admits: fi digits, then ff after a `.` (-1: no `.`), then fe after echar and esign (-1: no
 * exponent; esign 0: no sign), which slots_admit compares with tokenize's counts. */
typedef struct {
    int level;
    char *text;
    Py_ssize_t len;
    int num_form, fi, ff, fe;
    char echar, esign;
} Slot;

typedef struct {
    PyObject *name;   /* interned str */
    PyObject *cval;   /* a constant value (a float), else NULL */
    int first, last;  /* tokens of the value; between them only ',' (thousands) */
    int neg;          /* 1: the value is the negated number (a '-' in the literal before it); 2: a
                       * duration `h:mm:ss.ff` in three tokens (first, first + 1, last), in seconds */
    int evalish;      /* the name is an evaluation's (is_evalish): an unchanged value is stale */
} Metric;

typedef struct Template {
    struct Template *next;  /* the next template of the same key */
    uint64_t hash;
    char *key;
    Py_ssize_t keylen;
    int kind, nslots, nmetrics;
    Slot *slots;
    Metric *metrics;
    PyObject *shape;        /* tuple of the metric names (the record shape counted in _shapes) */
    Py_hash_t shape_hash;   /* its hash: a tuple does not cache it */
    /* the key of _shapes equal to shape (count_shape: Python's _emit counted the shape first, with
     * a tuple of its own, which a lookup by shape compares item by item), NULL until found */
    PyObject *shape_key;
    int step_kind, s_slot, e_slot, p_slot, t_slot;
    long long base;         /* epoch base of ST_EPT */
    long long kk_base;      /* _kk_base when learned; another value declines (it only changes once) */
    int ts_first, ts_last, ts_extra;  /* the timestamp text: tokens first..last and extra bytes */
    int bar_n, bar_total;   /* K_BAR: the tokens of the position and the total (-1: none, `0/?`) */
    int eval_noop;          /* K_BAR: as an evaluation bar after training (another total) it does nothing */
    int redraw;             /* K_BAR: a tqdm bar StreamParser._redraw_step reads (a redraw after a message) */
    /* K_BAR of no total (`Epoch 3: | 5/?`): its description holds an epoch, which _bar reads there
     * (never an evaluation bar after training, never a restart; its step is its position) */
    int described;
    /* K_BAR: text glued after the bar (Lightning's checkpoint message after its last redraw) that
     * _bar reads as a line of its own: it starts rest_off bytes after the end of token rest_tok
     * (in the literal text, which the key fixes); rest_tok -1: nothing glued */
    int rest_tok, rest_off;
    int rank_slot;          /* K_RECORD: the token of the rank (`[rank1]:`), else -1 */
    PyObject *cf;           /* K_BLOCKROW: the format whose open block (_block["cf"]) takes the row;
                             * K_BLOCKOPEN: the format of the block it opens (or None) */
    PyObject *block_row;    /* K_BLOCKOPEN: the row regex of the block it opens (or None) */
    uint64_t hits;          /* lines it read (Python asks whether a key's templates pay: Engine.usage) */
    PyObject *flush;        /* a line it reads ends an open block of this format (or row regex: a block
                             * of no format) where it is no row of it: flush_block, then read on */
    int attach_emit, attach_none;  /* K_RECORD: _attach = None after a record / after none */
    int aside_ok;           /* the ASIDE_* states it applies in */
    PyObject *table;        /* a line read by the open markdown table (a row): applies only while
                             * _table equals this one (a copy), else NULL */
    /* a line that sets the unmodelled state (a table's title, header or separator row, detectron2's
     * copypaste task, names and values): applies only where (_table, _table_title, _copy_task,
     * _copy_names) equal aux_pre (4-tuple), and leaves them as in aux_post (copies); else NULL */
    PyObject *aux_pre, *aux_post;
} Template;

typedef struct {
    PyObject_HEAD
    PyObject *record_type;
    Py_ssize_t record_slots[4]; /* offsets of step, metrics, timestamp, line; 0: call the type */
    PyObject *ts_fn;
    PyObject *ts_bases;         /* the timestamp cache ts_fn reads (its module's _TS_BASES) */
    PyObject *evalish;          /* formats.EVALISH_PREFIXES (a tuple of str): what the names start
                                 * with whose unchanged reprint is dropped */
    Template **buckets;     /* open addressing on the key hash; each entry a chain */
    size_t cap, used, ntemplates;
    uint64_t *miss_hash;
    uint32_t *miss_count;
    size_t miss_used;
    /* the modelled context, valid during run() */
    PyObject *last, *shapes, *primary;
    PyObject *attach;
    PyObject *block;        /* _block: None, or the open block (a dict) only K_BLOCKROW reads */
    PyObject *table;        /* _table: None, or the open table (a dict) a row template compares */
    PyObject *table_title, *copy_task, *copy_names;  /* the rest of what aux_pre compares */
    int aux_dirty;          /* an aux template set them: push writes the four back */
    int guard_ok, has_steps, dirty;
    int held, held_dirty;   /* _held: 0 None, 1 [] (a bar was cleared: the message next), 2 records
                             * waiting for the bar's redraw (tqdm.write); held_dirty: push writes it */
    PyObject *held_list;    /* _held's list (held 1 and 2) */
    int aside;              /* the ASIDE_* states the parser is in */
    int table_closable;     /* the ASIDE_CLOSE* bit of the open table: a markdown table, a box of no row */
    int close_table;        /* a template closed it: push writes _table = None */
    long long kk_base;
    int bar_total_none, bar_done, header_epoch_none, expect_train_bar;
    long long bar_total, bar_n, bar_epoch, header_epoch;
    int header_dirty;       /* an epoch header set header_epoch and kk_base: push writes them */
    int block_dirty;        /* a template opened a block: push writes _block */
} Engine;

/* attribute names of StreamParser */
static PyObject *s_has_steps, *s_attach, *s_kk_base, *s_block, *s_table, *s_copy_names, *s_last,
    *s_shapes, *s_bar_total, *s_bar_n, *s_bar_done, *s_bar_epoch, *s_header_epoch, *s_expect_train_bar,
    *s_slow_line, *s_read_line, *s_primary, *s_held, *s_step, *s_epoch, *s_ts_bases, *s_cf, *s_metrics,
    *s_row, *s_table_title, *s_copy_task;
/* an open table's "kind" and a box's "rows", "section", "ts", "line"; the kinds ASIDE_CLOSE and
 * ASIDE_CLOSE_BOX close */
static PyObject *s_kind, *s_markdown, *s_box, *s_rows, *s_section, *s_ts, *s_line, *s_rank;
static PyObject *one;  /* the int 1 */

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* ---- tokens and keys -------------------------------------------------------------------------- */

/* A tqdm bar's fill between its `|`s (`|██▌       |`: block elements U+2588-U+258F, then spaces,
 * FILL_MAX characters at most) is one FILL byte in a key: a bar's key does not change as it fills
 * (fastpath.line_key does the same; the study verifies other fills). */
#define FILL 1
#define FILL_MAX 100

/* The bytes of w that are a digit, a NUL or FILL byte, or a `|`, each marked by its high bit (SWAR:
 * a byte below n is found by the borrow of subtracting n from every byte; digits are the bytes below
 * 10 once xored with '0', a `|` the zero byte once xored with it). A borrow may mark a byte above a
 * marked one too, never one below: the lowest mark is the first such byte. */
#define ONES 0x0101010101010101ULL
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & (ONES * 0x80))
static inline uint64_t word_stops(uint64_t w)
{
    return HAS_LESS(w ^ (ONES * '0'), 10) | HAS_LESS(w, 2) | HAS_LESS(w ^ (ONES * '|'), 1);
}

/* Where the bar fill that starts at s[i] (just after a `|`) ends: at the `|` that closes it; i when
 * there is no such fill. */
static Py_ssize_t bar_fill(const char *s, Py_ssize_t i, Py_ssize_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    Py_ssize_t j = i, chars = 0;
    while (j + 2 < n && u[j] == 0xE2 && u[j + 1] == 0x96 && u[j + 2] >= 0x88 && u[j + 2] <= 0x8F) {
        j += 3;
        chars++;
    }
    if (chars == 0)
        return i;
    while (j < n && u[j] == ' ') {
        j++;
        chars++;
    }
    return j < n && u[j] == '|' && chars <= FILL_MAX ? j : i;
}

/* The number token that starts at s[i] (a digit) into *t; returns where it ends. */
static Py_ssize_t scan_number(const char *s, Py_ssize_t i, Py_ssize_t n, Tok *t)
{
    Py_ssize_t start = i;
    uint64_t m = 0;
    int sig = 0, flen = -1, has_exp = 0, exp = 0, elen = 0;
    char echar = 0, esign = 0;
    /* (the significand as fast_double reads it: leading zeros are no significant digits) */
    for (; i < n && is_digit((unsigned char)s[i]); i++)
        if ((m != 0 || s[i] != '0') && ++sig <= 19)
            m = m * 10 + (uint64_t)(s[i] - '0');
    t->ilen = (int)(i - start);
    if (i + 1 < n && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
        Py_ssize_t f = ++i;
        for (; i < n && is_digit((unsigned char)s[i]); i++)
            if ((m != 0 || s[i] != '0') && ++sig <= 19)
                m = m * 10 + (uint64_t)(s[i] - '0');
        flen = (int)(i - f);
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        Py_ssize_t j = i + 1;
        char sign = 0;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            sign = s[j++];
        if (j < n && is_digit((unsigned char)s[j])) {
            echar = s[i], esign = sign;
            for (i = j; i < n && is_digit((unsigned char)s[i]); i++)
                if (exp < 100000)
                    exp = exp * 10 + (s[i] - '0');
            elen = (int)(i - j);
            has_exp = 1;
            exp = sign == '-' ? -exp : exp;
        }
    }
    t->start = start;
    t->end = i;
    t->plain = flen < 0 && !has_exp;
    t->flen = flen;
    t->has_exp = has_exp;
    t->elen = elen;
    t->echar = echar;
    t->esign = esign;
    t->sig = sig;
    t->m = m;
    t->e10 = exp - (flen > 0 ? flen : 0);
    return i;
}

/* Cut s into tokens and write its key. Returns the number of tokens, or -1 for a line the fast
 * path does not take (too many numbers, or a NUL or FILL byte, which would be ambiguous in a key). */
static int tokenize(const char *s, Py_ssize_t n, char *key, Py_ssize_t *keylen, Tok *toks)
{
    int nt = 0;
    Py_ssize_t i = 0, k = 0;
    while (i < n) {
        /* literal text eight bytes at a time while no digit, NUL, FILL or `|` is among them */
        uint64_t w, stops = 0;
        while (i + 8 <= n && (memcpy(&w, s + i, 8), (stops = word_stops(w)) == 0)) {
            memcpy(key + k, &w, 8);
            k += 8;
            i += 8;
        }
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (stops != 0) {  /* the literal bytes before the first stop, at once (s[i] is w's lowest byte) */
            int lit = __builtin_ctzll(stops) >> 3;
            memcpy(key + k, &w, 8);
            k += lit;
            i += lit;
        }
#endif
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (!is_digit(c)) {
            if (c == 0 || c == FILL)
                return -1;
            key[k++] = (char)c;
            i++;
            if (c == '|') {
                Py_ssize_t end = bar_fill(s, i, n);
                if (end > i) {
                    key[k++] = FILL;
                    i = end;  /* the closing `|`: a literal, maybe the opening of another fill */
                }
            }
            continue;
        }
        if (nt == MAX_TOKENS)
            return -1;
        i = scan_number(s, i, n, &toks[nt]);
        nt++;
        key[k++] = 0;
    }
    *keylen = k;
    return nt;
}

/* A hash of a key, eight bytes at a time (a byte-at-a-time hash was a fifth of a line's C time). */
static uint64_t hash_bytes(const char *s, Py_ssize_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, w;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s + i, (size_t)(n - i));
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h ? h : 1;  /* 0 marks an empty miss slot */
}

/* What str.isspace() says of a line made of these bytes (non-ASCII lines are never blank here). */
static int is_blank(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == ' ' || c == '\t' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1f)))
            return 0;
    }
    return 1;
}

static int all_spaces(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

/* Whether s[0:n] is UTF-8 as Python's strict decoder takes it (no overlong forms, no surrogates,
 * nothing above U+10FFFF, no cut sequence): then it is the UTF-8 of the str feed_bytes would
 * have decoded, bad bytes replaced. */
static int utf8_valid(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {  /* ASCII eight bytes at a time: most of a log */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned char lo = 0x80, hi = 0xBF;  /* the range of the second byte */
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;  /* no overlong form */
            else if (c == 0xED)
                hi = 0x9F;  /* no surrogate */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;  /* nothing above U+10FFFF */
        } else
            return 0;
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (int k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* ---- cleaning a block ------------------------------------------------------------------------- */

/* What StreamParser._block_text (parser._clean) does to a block before its lines are read, done
 * on its UTF-8 in one pass after the newlines: `\r\n` and `\r` become `\n`; then tqdm's cursor-up
 * `\x1b[A` becomes U+E000 (parser._NESTED), the other ANSI sequences parser._ANSI matches are
 * dropped, and backspaces are dropped. The regex is
 *   \x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b\n]{0,4096}(?:\x07|\x1b\\)?|[@-Z\\-_])
 * applied after the `\x1b[A` replacement (so an OSC body counts each `\x1b[A` as the one code
 * point it became, and a backspace as a code point: they are dropped after). Its character
 * classes are disjoint, so the greedy runs never backtrack into a match. */

/* The length of parser._ANSI's match at s[i] == ESC, 0 when it does not match. */
static Py_ssize_t ansi_match(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t k = i + 1;
    if (k >= n)
        return 0;
    unsigned char c = s[k];
    if (c == '[') {  /* CSI: parameters, intermediates, a final byte */
        int cnt;
        k++;
        for (cnt = 0; k < n && cnt < 32 && s[k] >= 0x30 && s[k] <= 0x3f; cnt++)
            k++;
        for (cnt = 0; k < n && cnt < 8 && s[k] >= 0x20 && s[k] <= 0x2f; cnt++)
            k++;
        return k < n && s[k] >= 0x40 && s[k] <= 0x7e ? k + 1 - i : 0;  /* '[' is no single-byte form */
    }
    if (c == ']') {  /* OSC: up to 4096 code points, then an optional terminator; always matches */
        k++;
        for (int cnt = 0; k < n && cnt < 4096; cnt++) {
            unsigned char b = s[k];
            if (b == 0x07 || b == '\n')
                break;
            if (b == 0x1b) {
                if (k + 2 < n && s[k + 1] == '[' && s[k + 2] == 'A') {
                    k += 3;  /* became U+E000 before the regex ran */
                    continue;
                }
                break;
            }
            k += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        }
        if (k > n)
            k = n;
        if (k < n && s[k] == 0x07)
            k++;
        else if (k + 1 < n && s[k] == 0x1b && s[k + 1] == '\\')
            k += 2;
        return k - i;
    }
    if ((c >= 0x40 && c <= 0x5a) || (c >= 0x5c && c <= 0x5f))
        return 2;
    return 0;
}

/* The position of the next ESC or backspace in o[r:m] (m when none); *esc / *bs cache the next
 * of each (searched again only once passed). */
static Py_ssize_t next_special(const unsigned char *o, Py_ssize_t r, Py_ssize_t m, Py_ssize_t *esc, Py_ssize_t *bs)
{
    if (*esc < r) {
        const unsigned char *p = memchr(o + r, 0x1b, (size_t)(m - r));
        *esc = p != NULL ? p - o : m;
    }
    if (*bs < r) {
        const unsigned char *p = memchr(o + r, 0x08, (size_t)(m - r));
        *bs = p != NULL ? p - o : m;
    }
    return *esc < *bs ? *esc : *bs;
}

/* Cleans s[0:n] into out (at least n bytes; the text only shrinks). Returns the new length. */
static Py_ssize_t clean_block(const char *src, Py_ssize_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *o = (unsigned char *)out;
    Py_ssize_t w = 0, i = 0;
    for (;;) {  /* `\r\n` -> `\n`, `\r` -> `\n`, spans between copied whole */
        const unsigned char *p = memchr(s + i, '\r', (size_t)(n - i));
        Py_ssize_t at = p != NULL ? p - s : n;
        memcpy(o + w, s + i, (size_t)(at - i));
        w += at - i;
        if (p == NULL)
            break;
        if (at + 1 >= n || s[at + 1] != '\n')
            o[w++] = '\n';
        i = at + 1;
    }
    Py_ssize_t m = w, esc = -1, bs = -1, r = next_special(o, 0, m, &esc, &bs);
    if (r == m)
        return m;
    w = r;  /* in place from here: the write position never passes the read position */
    while (r < m) {
        unsigned char c = o[r];
        if (c != 0x1b && c != 0x08) {
            Py_ssize_t next = next_special(o, r, m, &esc, &bs);
            memmove(o + w, o + r, (size_t)(next - r));
            w += next - r;
            r = next;
        } else if (c == 0x08) {
            r++;
        } else if (r + 2 < m && o[r + 1] == '[' && o[r + 2] == 'A') {
            o[w++] = 0xee;  /* U+E000 */
            o[w++] = 0x80;
            o[w++] = 0x80;
            r += 3;
        } else {
            Py_ssize_t len = ansi_match(o, r, m);
            if (len > 0)
                r += len;
            else
                o[w++] = o[r++];
        }
    }
    return w;
}

/* Whether a block needs cleaning at all (most do not: no `\r`, ESC or backspace). */
static int needs_cleaning(const char *s, Py_ssize_t n)
{
    return memchr(s, '\r', (size_t)n) != NULL || memchr(s, 0x1b, (size_t)n) != NULL ||
           memchr(s, 0x08, (size_t)n) != NULL;
}

/* ---- the template table ----------------------------------------------------------------------- */

static void template_free(Template *t)
{
    if (t == NULL)
        return;
    if (t->slots != NULL)
        for (int i = 0; i < t->nslots; i++)
            PyMem_Free(t->slots[i].text);
    if (t->metrics != NULL)
        for (int i = 0; i < t->nmetrics; i++) {
            Py_XDECREF(t->metrics[i].name);
            Py_XDECREF(t->metrics[i].cval);
        }
    PyMem_Free(t->slots);
    PyMem_Free(t->metrics);
    PyMem_Free(t->key);
    Py_XDECREF(t->shape);
    Py_XDECREF(t->shape_key);
    Py_XDECREF(t->cf);
    Py_XDECREF(t->block_row);
    Py_XDECREF(t->table);
    Py_XDECREF(t->aux_pre);
    Py_XDECREF(t->aux_post);
    Py_XDECREF(t->flush);
    PyMem_Free(t);
}

static Template *lookup(Engine *e, const char *key, Py_ssize_t keylen, uint64_t h)
{
    size_t mask = e->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        Template *t = e->buckets[i];
        if (t == NULL)
            return NULL;
        if (t->hash == h && t->keylen == keylen && memcmp(t->key, key, (size_t)keylen) == 0)
            return t;
    }
}

static int grow(Engine *e)
{
    size_t cap = e->cap * 2;
    Template **b = PyMem_Calloc(cap, sizeof(Template *));
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < e->cap; i++) {
        Template *t = e->buckets[i];
        if (t == NULL)
            continue;
        size_t j = (size_t)t->hash & (cap - 1);
        while (b[j] != NULL)
            j = (j + 1) & (cap - 1);
        b[j] = t;
    }
    PyMem_Free(e->buckets);
    e->buckets = b;
    e->cap = cap;
    return 0;
}

/* Adds t (taking it over); 0 when the table or the key's chain is full (t is freed). */
static int insert(Engine *e, Template *t)
{
    if (e->ntemplates >= MAX_TEMPLATES) {
        template_free(t);
        return 0;
    }
    Template *head = lookup(e, t->key, t->keylen, t->hash);
    if (head != NULL) {
        int n = 1;
        while (head->next != NULL) {
            head = head->next;
            n++;
        }
        if (n >= MAX_CHAIN) {
            template_free(t);
            return 0;
        }
        head->next = t;
        e->ntemplates++;
        return 1;
    }
    if ((e->used + 1) * 2 > e->cap && grow(e) < 0) {
        template_free(t);
        return -1;
    }
    size_t mask = e->cap - 1, i = (size_t)t->hash & mask;
    while (e->buckets[i] != NULL)
        i = (i + 1) & mask;
    e->buckets[i] = t;
    e->used++;
    e->ntemplates++;
    return 1;
}

/* How often a key missed so far (1 the first time); Python learns on some of these. */
static uint32_t count_miss(Engine *e, uint64_t h)
{
    size_t mask = MISS_CAP - 1;
    if (e->miss_hash == NULL) {  /* allocated on the first miss: engines that only check a template need none */
        e->miss_hash = PyMem_Calloc(MISS_CAP, sizeof(uint64_t));
        e->miss_count = PyMem_Calloc(MISS_CAP, sizeof(uint32_t));
        if (e->miss_hash == NULL || e->miss_count == NULL) {
            PyMem_Free(e->miss_hash);
            PyMem_Free(e->miss_count);
            e->miss_hash = NULL;
            e->miss_count = NULL;
            return 0;  /* no learning without memory */
        }
    }
    if (e->miss_used * 2 > MISS_CAP) {  /* a log of endless distinct lines: start over */
        memset(e->miss_hash, 0, MISS_CAP * sizeof(uint64_t));
        e->miss_used = 0;
    }
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        if (e->miss_hash[i] == h) {
            if (e->miss_count[i] < UINT32_MAX)
                e->miss_count[i]++;
            return e->miss_count[i];
        }
        if (e->miss_hash[i] == 0) {
            e->miss_hash[i] = h;
            e->miss_count[i] = 1;
            e->miss_used++;
            return 1;
        }
    }
}

/* Learning is tried on the 2nd, 4th, 8th ... 1024th miss of a key: a one-off line costs nothing,
 * and a key that keeps failing stops costing soon. */
static int wants_learning(uint32_t n) { return n >= 2 && n <= 1024 && (n & (n - 1)) == 0; }

/* ---- the modelled context --------------------------------------------------------------------- */

/* Reads an optional int attribute; sets *none. Returns 0, or -1 when not representable (the
 * caller then keeps the fast path off until the next read). */
static int read_opt_ll(PyObject *v, int *none, long long *out)
{
    if (v == Py_None) {
        *none = 1;
        *out = 0;
        return 0;
    }
    *none = 0;
    if (!PyLong_Check(v))
        return -1;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    if (*out > (1LL << 62) || *out < -(1LL << 62))
        return -1;
    return 0;
}

static void release_context(Engine *e)
{
    Py_CLEAR(e->ts_bases);
    Py_CLEAR(e->last);
    Py_CLEAR(e->shapes);
    Py_CLEAR(e->primary);
    Py_CLEAR(e->attach);
    Py_CLEAR(e->block);
    Py_CLEAR(e->table);
    Py_CLEAR(e->table_title);
    Py_CLEAR(e->copy_task);
    Py_CLEAR(e->copy_names);
    Py_CLEAR(e->held_list);
}

/* The ASIDE_* states of the table and copypaste names in e. */
static void set_aside(Engine *e)
{
    e->aside = (e->table != Py_None ? ASIDE_TABLE : 0) | (e->copy_names != Py_None ? ASIDE_COPY : 0);
    e->table_closable = 0;
    if (PyDict_CheckExact(e->table)) {
        PyObject *kind = PyDict_GetItemWithError(e->table, s_kind), *rows;
        if (kind != NULL && PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, s_markdown) == 0)
            e->table_closable = ASIDE_CLOSE;
        else if (kind != NULL && PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, s_box) == 0 &&
                 (rows = PyDict_GetItemWithError(e->table, s_rows)) != NULL && PyList_CheckExact(rows) &&
                 PyList_GET_SIZE(rows) == 0)
            e->table_closable = ASIDE_CLOSE_BOX;
    }
    PyErr_Clear();
}

/* Reads the parser's context into e. -1 with an exception only when an attribute is missing.
 * Runs after every line Python read: the attributes are looked up in the instance dict (where
 * StreamParser keeps them), PyObject_GetAttr only for one that is not there. */
static int pull(Engine *e, PyObject *p)
{
    PyObject *v[18];
    PyObject *names[18] = {s_has_steps, s_attach, s_kk_base, s_block, s_table, s_copy_names, s_last,
                           s_shapes, s_bar_total, s_bar_n, s_bar_done, s_bar_epoch, s_header_epoch,
                           s_expect_train_bar, s_primary, s_held, s_table_title, s_copy_task};
    PyObject *dict = PyObject_GenericGetDict(p, NULL);
    if (dict == NULL)
        PyErr_Clear();
    for (int i = 0; i < 18; i++) {
        v[i] = dict != NULL && PyDict_CheckExact(dict) ? PyDict_GetItemWithError(dict, names[i]) : NULL;
        v[i] = v[i] != NULL ? Py_NewRef(v[i]) : PyErr_Occurred() ? NULL : PyObject_GetAttr(p, names[i]);
        if (v[i] == NULL) {
            for (int j = 0; j < i; j++)
                Py_DECREF(v[j]);
            Py_XDECREF(dict);
            return -1;
        }
    }
    Py_XDECREF(dict);
    release_context(e);
    PyObject *globals = PyFunction_Check(e->ts_fn) ? PyFunction_GetGlobals(e->ts_fn) : NULL;
    PyObject *bases = globals != NULL ? PyDict_GetItemWithError(globals, s_ts_bases) : NULL;
    e->ts_bases = bases != NULL && PyDict_CheckExact(bases) ? Py_NewRef(bases) : NULL;
    e->block = Py_NewRef(v[3]);
    e->table = Py_NewRef(v[4]);
    e->copy_names = Py_NewRef(v[5]);
    e->table_title = Py_NewRef(v[16]);
    e->copy_task = Py_NewRef(v[17]);
    e->aux_dirty = 0;
    int ok = PyDict_CheckExact(v[6]) && PyDict_CheckExact(v[7]) && PyDict_CheckExact(v[14]);
    if (v[15] == Py_None)
        e->held = 0;
    else if (PyList_CheckExact(v[15])) {
        e->held = PyList_GET_SIZE(v[15]) == 0 ? 1 : 2;
        e->held_list = Py_NewRef(v[15]);
    } else
        ok = 0;
    e->held_dirty = 0;
    e->header_dirty = 0;
    e->block_dirty = 0;
    set_aside(e);
    e->close_table = 0;
    int none;
    e->has_steps = PyObject_IsTrue(v[0]) == 1;
    e->attach = Py_NewRef(v[1]);
    if (read_opt_ll(v[2], &none, &e->kk_base) < 0 || none)
        ok = 0;
    e->last = Py_NewRef(v[6]);
    e->shapes = Py_NewRef(v[7]);
    e->primary = Py_NewRef(v[14]);
    if (read_opt_ll(v[8], &e->bar_total_none, &e->bar_total) < 0)
        ok = 0;
    if (read_opt_ll(v[9], &none, &e->bar_n) < 0 || none)
        ok = 0;
    e->bar_done = PyObject_IsTrue(v[10]) == 1;
    if (read_opt_ll(v[11], &none, &e->bar_epoch) < 0 || none)
        ok = 0;
    if (read_opt_ll(v[12], &e->header_epoch_none, &e->header_epoch) < 0)
        ok = 0;
    e->expect_train_bar = PyObject_IsTrue(v[13]) == 1;
    PyErr_Clear();
    e->guard_ok = ok;
    e->dirty = 0;
    for (int i = 0; i < 18; i++)
        Py_DECREF(v[i]);
    return 0;
}

static int set_ll(PyObject *p, PyObject *name, long long v)
{
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL)
        return -1;
    int r = PyObject_SetAttr(p, name, o);
    Py_DECREF(o);
    return r;
}

/* Writes the context the fast path changed back to the parser. */
static int push(Engine *e, PyObject *p)
{
    if (!e->dirty)
        return 0;
    e->dirty = 0;
    if (e->close_table) {
        e->close_table = 0;
        if (PyObject_SetAttr(p, s_table, Py_None) < 0)
            return -1;
    }
    if (e->aux_dirty) {
        e->aux_dirty = 0;
        if (PyObject_SetAttr(p, s_table, e->table) < 0 || PyObject_SetAttr(p, s_table_title, e->table_title) < 0 ||
            PyObject_SetAttr(p, s_copy_task, e->copy_task) < 0 || PyObject_SetAttr(p, s_copy_names, e->copy_names) < 0)
            return -1;
    }
    if (e->held_dirty) {
        e->held_dirty = 0;
        if (PyObject_SetAttr(p, s_held, e->held ? e->held_list : Py_None) < 0)
            return -1;
    }
    if (e->block_dirty) {
        e->block_dirty = 0;
        if (PyObject_SetAttr(p, s_block, e->block) < 0)
            return -1;
    }
    if (e->header_dirty) {
        e->header_dirty = 0;
        if (set_ll(p, s_header_epoch, e->header_epoch) < 0 || set_ll(p, s_kk_base, e->kk_base) < 0)
            return -1;
    }
    if (PyObject_SetAttr(p, s_has_steps, e->has_steps ? Py_True : Py_False) < 0 ||
        PyObject_SetAttr(p, s_attach, e->attach) < 0 ||
        PyObject_SetAttr(p, s_bar_done, e->bar_done ? Py_True : Py_False) < 0 ||
        PyObject_SetAttr(p, s_expect_train_bar, e->expect_train_bar ? Py_True : Py_False) < 0 ||
        set_ll(p, s_bar_n, e->bar_n) < 0 || set_ll(p, s_bar_epoch, e->bar_epoch) < 0)
        return -1;
    if (e->bar_total_none)
        return PyObject_SetAttr(p, s_bar_total, Py_None);
    return set_ll(p, s_bar_total, e->bar_total);
}

static void set_attach(Engine *e, PyObject *v)
{
    Py_SETREF(e->attach, v);  /* steals v */
}

/* ---- applying a template ---------------------------------------------------------------------- */

/* Whether token a has the form f, in which each run of digits is a run of '9's as long as the
 * longest run verified there (fastpath.form): a run of a admits 1 up to that many digits. */
static int same_form(const char *a, Py_ssize_t len, const char *f, Py_ssize_t flen)
{
    Py_ssize_t i = 0, k = 0;
    while (k < flen) {
        if (f[k] == '9') {
            Py_ssize_t cap = 0, run = 0;
            while (k < flen && f[k] == '9') {
                cap++;
                k++;
            }
            while (i < len && is_digit((unsigned char)a[i])) {
                run++;
                i++;
            }
            if (run == 0 || run > cap)
                return 0;
            continue;
        }
        if (i >= len || a[i] != f[k])
            return 0;
        i++;
        k++;
    }
    return i == len;
}

static int slots_admit(const Template *t, const char *s, const Tok *toks)
{
    for (int i = 0; i < t->nslots; i++) {
        const Slot *sl = &t->slots[i];
        const char *a = s + toks[i].start;
        Py_ssize_t len = toks[i].end - toks[i].start;
        switch (sl->level) {
        case LV_NUMBER:  /* is_number, from tokenize's counts */
            if (toks[i].has_exp || toks[i].ilen > NUMBER_MAX_RUN || toks[i].flen > NUMBER_MAX_RUN)
                return 0;
            break;
        case LV_FORM:
            if (sl->num_form) {  /* same_form, from tokenize's counts */
                const Tok *tk = &toks[i];
                if (tk->ilen > sl->fi || (sl->ff < 0 ? tk->flen >= 0 : tk->flen < 0 || tk->flen > sl->ff) ||
                    (sl->fe < 0 ? tk->has_exp
                                : !tk->has_exp || tk->echar != sl->echar || tk->esign != sl->esign || tk->elen > sl->fe))
                    return 0;
            } else if (!same_form(a, len, sl->text, sl->len))
                return 0;
            break;
        case LV_SHAPE:
            if (len != sl->len)
                return 0;
            for (Py_ssize_t k = 0; k < len; k++) {
                int da = is_digit((unsigned char)a[k]), db = is_digit((unsigned char)sl->text[k]);
                if (da != db || (!da && a[k] != sl->text[k]))
                    return 0;
            }
            break;
        default:
            if (len != sl->len || memcmp(a, sl->text, (size_t)len) != 0)
                return 0;
        }
    }
    return 1;
}

/* A plain token of at most max_digits digits as an int; 0 when it is not one. */
static int token_int(const char *s, const Tok *tk, int max_digits, long long *out)
{
    Py_ssize_t len = tk->end - tk->start;
    if (!tk->plain || len > max_digits)
        return 0;
    long long v = 0;
    for (Py_ssize_t k = tk->start; k < tk->end; k++)
        v = v * 10 + (s[k] - '0');
    *out = v;
    return 1;
}

/* The step of a record template; 0 when the line's numbers are out of what C computes. */
static int template_step(const Template *t, const char *s, const Tok *toks, long long *step)
{
    if (t->step_kind == ST_SLOT)
        return token_int(s, &toks[t->s_slot], MAX_INT_DIGITS, step);
    long long ep, pos, total;
    if (!token_int(s, &toks[t->e_slot], MAX_FACTOR_DIGITS, &ep) ||
        !token_int(s, &toks[t->p_slot], MAX_FACTOR_DIGITS, &pos) ||
        !token_int(s, &toks[t->t_slot], MAX_FACTOR_DIGITS, &total))
        return 0;
    *step = (ep - t->base) * total + pos;
    return 1;
}

/* Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
static const double POW10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* float() of b[0:k], a number token (digits, optional `.digits`, optional exponent), when one
 * IEEE operation gives it exactly (Clinger's fast path: a significand of at most 2^53 times or
 * divided by an exact power of ten, rounded once, is the correctly rounded value float() also
 * returns). 0 when not: the caller asks PyOS_string_to_double, which is exact everywhere but far
 * slower (it switches the x87 control word on every call). */
static int fast_double(const char *b, Py_ssize_t k, double *out)
{
    uint64_t m = 0;
    int digits = 0, frac = 0, exp = 0;
    Py_ssize_t i = 0;
    if (k == 0 || !is_digit((unsigned char)b[0]))
        return 0;
    for (; i < k && is_digit((unsigned char)b[i]); i++) {
        if (m == 0 && b[i] == '0')
            continue;  /* leading zeros are no significant digits */
        if (++digits > 19)
            return 0;
        m = m * 10 + (uint64_t)(b[i] - '0');
    }
    if (i < k && b[i] == '.') {
        i++;
        if (i >= k || !is_digit((unsigned char)b[i]))
            return 0;
        for (; i < k && is_digit((unsigned char)b[i]); i++) {
            frac++;
            if (m == 0 && b[i] == '0')
                continue;
            if (++digits > 19)
                return 0;
            m = m * 10 + (uint64_t)(b[i] - '0');
        }
    }
    if (i < k && (b[i] == 'e' || b[i] == 'E')) {
        int neg = 0, ed = 0;
        i++;
        if (i < k && (b[i] == '+' || b[i] == '-'))
            neg = b[i++] == '-';
        for (; i < k && is_digit((unsigned char)b[i]); i++, ed++)
            if (exp < 100000)
                exp = exp * 10 + (b[i] - '0');
        if (ed == 0)
            return 0;
        if (neg)
            exp = -exp;
    }
    if (i != k || frac > 100000)
        return 0;
    if (m == 0) {
        *out = 0.0;
        return 1;
    }
    int e10 = exp - frac;
    if (m > (1ULL << 53) || e10 > 22 || e10 < -22)
        return 0;
    double v = (double)m;
    *out = e10 >= 0 ? v * POW10[e10] : v / POW10[-e10];
    return 1;
}

/* float() of the text buf[0:k] (NUL-terminated): fast_double, else Python's own conversion, which
 * must take all of it. 0 (no exception) when it is no number. */
static int text_double(const char *buf, Py_ssize_t k, double *out)
{
    if (fast_double(buf, k, out))
        return 1;
    char *end = NULL;
    double v = PyOS_string_to_double(buf, &end, NULL);
    if ((v == -1.0 && PyErr_Occurred()) || end != buf + k) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* fast_double of a token, from what tokenize computed of it: the same answer, without reading
 * its digits again. */
static inline int tok_double(const Tok *t, double *out)
{
    if (t->sig > 19 || t->flen > 100000)
        return 0;
    if (t->m == 0) {
        *out = 0.0;
        return 1;
    }
    if (t->m > (1ULL << 53) || t->e10 > 22 || t->e10 < -22)
        return 0;
    double v = (double)t->m;
    *out = t->e10 >= 0 ? v * POW10[t->e10] : v / POW10[-t->e10];
    return 1;
}

/* float() of the metric's tokens (thousands separators dropped); NULL with no exception when C
 * declines, NULL with an exception on memory errors. */
/* The seconds of `h:mm:ss.ff` in tokens t[0..2], as bodies.field_value computes them: the whole
 * minutes as an int, then the seconds' float added. NULL (no exception) when a token is no number. */
static PyObject *duration_value(const char *s, const Tok *t)
{
    long long hours, minutes;
    if (!token_int(s, &t[0], 9, &hours) || !token_int(s, &t[1], 9, &minutes))
        return NULL;
    double sec;
    if (!tok_double(&t[2], &sec)) {
        char buf[64];
        Py_ssize_t n = t[2].end - t[2].start;
        if (n >= (Py_ssize_t)sizeof(buf))
            return NULL;
        memcpy(buf, s + t[2].start, (size_t)n);
        buf[n] = 0;
        if (!text_double(buf, n, &sec))
            return NULL;
    }
    return PyFloat_FromDouble((double)((hours * 60 + minutes) * 60) + sec);
}

static PyObject *metric_value(const Metric *m, const char *s, const Tok *toks)
{
    if (m->cval != NULL)
        return Py_NewRef(m->cval);
    if (m->neg == 2)
        return duration_value(s, toks + m->first);
    double v;
    if (m->first == m->last && tok_double(&toks[m->first], &v))
        return PyFloat_FromDouble(m->neg ? -v : v);
    char buf[128];
    Py_ssize_t k = 0;
    for (Py_ssize_t i = toks[m->first].start; i < toks[m->last].end; i++) {
        if (s[i] == ',')
            continue;
        if (k >= (Py_ssize_t)sizeof(buf) - 1)
            return NULL;
        buf[k++] = s[i];
    }
    buf[k] = 0;
    if (!text_double(buf, k, &v))
        return NULL;
    return PyFloat_FromDouble(m->neg ? -v : v);
}

/* What ts_fn (parser._timestamp) returns for the text s[0:n], for a text whose minute is in its
 * cache: the cached base plus the seconds, as it computes them. NULL (no exception) otherwise. */
static PyObject *cached_timestamp(Engine *e, const char *s, Py_ssize_t n)
{
    Py_ssize_t colon = n - 1;
    while (colon >= 0 && s[colon] != ':')
        colon--;
    if (colon < 0 || e->ts_bases == NULL || n - colon - 1 > 30)
        return NULL;
    char sec[32];
    Py_ssize_t k = 0;
    for (Py_ssize_t i = colon + 1; i < n; i++)
        sec[k++] = s[i] == ',' ? '.' : s[i];
    sec[k] = 0;
    double v;
    if (k == 0 || !text_double(sec, k, &v))
        return NULL;  /* float() may still read it (spaces, underscores): Python decides */
    PyObject *head = PyUnicode_DecodeUTF8(s, colon, "strict");
    if (head == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *base = PyDict_GetItemWithError(e->ts_bases, head);
    Py_DECREF(head);
    if (base == NULL || !PyFloat_CheckExact(base)) {
        PyErr_Clear();
        return NULL;
    }
    return PyFloat_FromDouble(PyFloat_AS_DOUBLE(base) + v);
}

static PyObject *template_timestamp(Engine *e, const Template *t, const char *s, Py_ssize_t n, const Tok *toks)
{
    if (t->ts_first < 0)
        return Py_NewRef(Py_None);
    Py_ssize_t a = toks[t->ts_first].start, b = toks[t->ts_last].end + t->ts_extra;
    if (b > n)
        return NULL;
    PyObject *ts = cached_timestamp(e, s + a, b - a);
    if (ts != NULL)
        return ts;
    PyObject *text = PyUnicode_DecodeUTF8(s + a, b - a, "strict");
    if (text == NULL)
        return NULL;
    ts = PyObject_CallOneArg(e->ts_fn, text);
    Py_DECREF(text);
    return ts;
}

/* The key of _shapes to look a template's shape up by (see Template.shape_key). */
static PyObject *shape_lookup_key(const Template *t, PyObject *shape)
{
    return t != NULL && shape == t->shape && t->shape_key != NULL ? t->shape_key : shape;
}

/* Notes which key of _shapes is equal to the template's shape, once: the one found there (a
 * lookup by it then ends at the identity test), or the shape itself when it was just added. */
static void note_shape_key(Engine *e, Template *t, PyObject *shape, int added)
{
    if (t == NULL || shape != t->shape || t->shape_key != NULL)
        return;
    if (added) {
        t->shape_key = Py_NewRef(shape);
        return;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    Py_hash_t h;
    while (_PyDict_Next(e->shapes, &pos, &k, &v, &h)) {
        if (h != t->shape_hash)
            continue;
        int eq = k == shape ? 1 : PyObject_RichCompareBool(k, shape, Py_EQ);
        if (eq < 0) {
            PyErr_Clear();  /* (tuples of str: not seen) a lookup by the shape itself is as right */
            return;
        }
        if (eq) {
            t->shape_key = Py_NewRef(k);
            return;
        }
    }
}

/* _shapes[shape] += 1 as _emit counts it; 0 (nothing changed) when the table is full and the
 * shape is new: Python counts such records per name. `t`: the template whose shape it may be. */
static int count_shape(Engine *e, PyObject *shape, Py_hash_t h, Template *t)
{
    PyObject *key = shape_lookup_key(t, shape);
    PyObject *n = _PyDict_GetItem_KnownHash(e->shapes, key, h);
    if (n == NULL) {
        if (PyErr_Occurred() || PyDict_GET_SIZE(e->shapes) >= 4096)
            return 0;
        if (_PyDict_SetItem_KnownHash(e->shapes, key, one, h) < 0)
            return 0;
        note_shape_key(e, t, key, 1);
        return 1;
    }
    note_shape_key(e, t, key, 0);
    PyObject *m = PyNumber_Add(n, one);  /* (n, borrowed, stays the dict's: note_shape_key changes nothing) */
    int r = m != NULL && _PyDict_SetItem_KnownHash(e->shapes, shape_lookup_key(t, shape), m, h) == 0;
    Py_XDECREF(m);
    return r;
}

/* Record(step, metrics, timestamp, line): its slots filled directly when the type is the plain
 * slots dataclass Engine_init found (its __init__ only assigns them), else by calling it. */
static PyObject *new_record(Engine *e, PyObject *step, PyObject *metrics, PyObject *ts, PyObject *line)
{
    PyObject *values[4] = {step, metrics, ts, line};
    if (e->record_slots[0] == 0)
        return PyObject_Vectorcall(e->record_type, values, 4, NULL);
    PyTypeObject *type = (PyTypeObject *)e->record_type;
    PyObject *rec = type->tp_alloc(type, 0);
    if (rec == NULL)
        return NULL;
    for (int i = 0; i < 4; i++)
        *(PyObject **)((char *)rec + e->record_slots[i]) = Py_NewRef(values[i]);
    return rec;
}

/* Builds and appends a Record; updates _last. Returns 1, or 0 (nothing changed) on failure. `t`:
 * the template whose shape `shape` may be (its hash then h), or NULL. */
static int emit(Engine *e, PyObject *step, PyObject *metrics, PyObject *shape, Py_hash_t h, PyObject *ts,
                long lineno, PyObject *out, Template *t)
{
    if (h == -1 && (h = PyObject_Hash(shape)) == -1)
        return 0;
    if (PyDict_GET_SIZE(e->shapes) >= 4096 && !PyDict_Contains(e->shapes, shape_lookup_key(t, shape)))
        return 0;
    PyObject *line = PyLong_FromLong(lineno);
    if (line == NULL)
        return 0;
    PyObject *rec = new_record(e, step, metrics, ts, line);
    Py_DECREF(line);
    if (rec == NULL)
        return 0;
    int r = PyList_Append(out, rec);
    Py_DECREF(rec);
    if (r < 0 || PyDict_Update(e->last, metrics) < 0 || !count_shape(e, shape, h, t))
        return 0;  /* memory errors only; the line's record may be half-counted, as in Python */
    return 1;
}

/* The two floats as _same() compares them (NaN equals NaN). */
static int same_float(PyObject *a, PyObject *b)
{
    double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
    return x == y || (x != x && y != y);
}

/* Whether a name is an evaluation's (`eval_loss`: it starts with one of formats.EVALISH_PREFIXES,
 * as _emit tests); -1 on errors. */
static int is_evalish(PyObject *prefixes, PyObject *name)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        Py_ssize_t r = PyUnicode_Tailmatch(name, PyTuple_GET_ITEM(prefixes, i), 0, PY_SSIZE_T_MAX, -1);
        if (r != 0)
            return (int)r;
    }
    return 0;
}

/* StreamParser._emit of a non-reprint record with the format / dict / generic paths around it:
 * a rank keeps only the metrics it is the lowest to print (_primary_rank), unchanged values of
 * evaluation names are dropped, and the context moves as the template says. Everything that can
 * decline (return 0) is checked before anything is changed. */
static int apply_record(Engine *e, const Template *t, const char *s, Py_ssize_t n, const Tok *toks, long lineno,
                        PyObject *out)
{
    long long step = 0, rank = -1;
    int own = t->step_kind == ST_SLOT || t->step_kind == ST_EPT;
    if (t->kk_base != e->kk_base || t->nmetrics > MAX_TOKENS + 8)
        return 0;
    if (own && !template_step(t, s, toks, &step))
        return 0;
    if (t->step_kind == ST_CTX && e->attach == Py_None && !e->has_steps)
        return 0;  /* the running count of a log without steps: Python */
    if (t->rank_slot >= 0 && !token_int(s, &toks[t->rank_slot], 9, &rank))
        return 0;
    PyObject *vals[MAX_TOKENS + 8];
    unsigned char keep[MAX_TOKENS + 8];
    int nm = t->nmetrics, nkept = 0, nstale = 0, last_kept = -1, ok = 1;
    for (int i = 0; i < nm; i++)
        vals[i] = NULL;
    for (int i = 0; ok && i < nm; i++) {
        vals[i] = metric_value(&t->metrics[i], s, toks);
        ok = vals[i] != NULL;
    }
    /* which metrics survive: the rank filter, then stale evaluation values */
    for (int i = 0; ok && i < nm; i++) {
        PyObject *name = t->metrics[i].name;
        keep[i] = 1;
        if (rank >= 0) {
            PyObject *p = PyDict_GetItemWithError(e->primary, name);
            if (p == NULL) {
                ok = !PyErr_Occurred();
            } else {
                int overflow = 0;
                long long pv = PyLong_Check(p) ? PyLong_AsLongLongAndOverflow(p, &overflow) : 0;
                if (!PyLong_Check(p) || overflow || (pv == -1 && PyErr_Occurred()))
                    ok = 0;
                else
                    keep[i] = rank <= pv;
            }
        }
        if (!ok || !keep[i])
            continue;
        /* (only an evaluation's value is compared with its last one) */
        PyObject *old = t->metrics[i].evalish ? PyDict_GetItemWithError(e->last, name) : NULL;
        if (old == NULL) {
            ok = !PyErr_Occurred();
        } else if (!PyFloat_Check(old) || !PyFloat_Check(vals[i])) {
            ok = 0;
        } else if (same_float(old, vals[i])) {
            keep[i] = 2;  /* stale */
            nstale++;
        }
        if (keep[i] == 1) {
            nkept++;
            last_kept = i;
        }
    }
    int emit_it = ok && nkept > 0 &&
                  !(nstale > 0 && nkept == 1 && PyUnicode_Compare(t->metrics[last_kept].name, s_epoch) == 0);
    PyObject *metrics = NULL, *shape = NULL, *ts = NULL, *step_obj = NULL;
    if (ok && emit_it) {
        metrics = _PyDict_NewPresized(nkept);  /* no resize while it fills */
        shape = nkept == nm ? Py_NewRef(t->shape) : PyTuple_New(nkept);
        ok = metrics != NULL && shape != NULL;
        for (int i = 0, k = 0; ok && i < nm; i++) {
            if (keep[i] != 1)
                continue;
            ok = PyDict_SetItem(metrics, t->metrics[i].name, vals[i]) == 0;
            if (nkept != nm)
                PyTuple_SET_ITEM(shape, k++, Py_NewRef(t->metrics[i].name));
        }
        if (ok && PyDict_GET_SIZE(e->shapes) >= 4096) {
            int has = PyDict_Contains(e->shapes, shape);
            ok = has == 1;  /* a new shape in a full table: Python counts it per name */
        }
        if (ok) {
            ts = template_timestamp(e, t, s, n, toks);
            ok = ts != NULL;
        }
        if (ok) {
            step_obj = own ? PyLong_FromLongLong(step) : Py_NewRef(t->step_kind == ST_CTX ? e->attach : Py_None);
            ok = step_obj != NULL;
        }
    }
    /* commit: nothing below declines */
    if (ok && rank >= 0) {
        PyObject *r = PyLong_FromLongLong(rank);
        ok = r != NULL;
        for (int i = 0; ok && i < nm; i++)
            if (keep[i])
                ok = PyDict_SetItem(e->primary, t->metrics[i].name, r) == 0;
        Py_XDECREF(r);
        /* a memory error here leaves _primary half-updated, as it would leave Python's */
    }
    int done = ok;
    if (ok && emit_it)
        emit(e, step_obj, metrics, shape, shape == t->shape ? t->shape_hash : -1, ts, lineno, out,
             (Template *)t);  /* (its shape_key is a cache) */
    if (done) {
        if (own)
            e->has_steps = 1;
        if (emit_it ? t->attach_emit : t->attach_none)
            set_attach(e, Py_NewRef(Py_None));
        e->dirty = 1;
    }
    for (int i = 0; i < nm; i++)
        Py_XDECREF(vals[i]);
    Py_XDECREF(metrics);
    Py_XDECREF(shape);
    Py_XDECREF(ts);
    Py_XDECREF(step_obj);
    return done;
}

/* StreamParser._bar for a training bar with a total and no postfix glued after it, its epoch from
 * the context or (ST_EPT) from a token of its description (`Epoch 3:`, epoch = token - base); the
 * metrics of its postfix are reprints unless they changed (_emit reprint), except `epoch`, which
 * goes with whatever is new and alone only when it changed. */
static int apply_bar(Engine *e, const Template *t, const char *s, Py_ssize_t n, const Tok *toks, long lineno,
                     PyObject *out)
{
    long long pos, total = 0;
    int total_none = t->bar_total < 0;  /* `0/?`: a bar of no total (its step is its position) */
    if (!token_int(s, &toks[t->bar_n], MAX_FACTOR_DIGITS, &pos) ||
        (!total_none && !token_int(s, &toks[t->bar_total], MAX_FACTOR_DIGITS, &total)))
        return 0;
    /* total == _bar_total, None included */
    int same_total = total_none ? e->bar_total_none : !e->bar_total_none && total == e->bar_total;
    long long bar_epoch = e->bar_epoch, epoch;
    if (t->step_kind == ST_EPT) {  /* an epoch in the description: never an evaluation bar */
        if (t->kk_base != e->kk_base || !token_int(s, &toks[t->e_slot], MAX_FACTOR_DIGITS, &epoch))
            return 0;
        epoch -= t->base;
    } else if (t->described)
        epoch = bar_epoch;  /* (unused: the step of a bar of no total is its position) */
    else if (!e->expect_train_bar && !e->bar_total_none && !same_total && e->bar_done)
        return t->eval_noop;  /* an evaluation bar after training: nothing, or Python reads it */
    else if (!e->header_epoch_none)
        epoch = e->header_epoch;
    else {
        if (pos < e->bar_n && same_total)
            bar_epoch++;  /* the bar restarted without printing an epoch */
        epoch = bar_epoch;
    }
    if (!total_none && (epoch > (1LL << 31) || epoch < -(1LL << 31)))
        return 0;
    PyObject *step = PyLong_FromLongLong(total_none ? pos : epoch * total + pos);
    if (step == NULL)
        return 0;
    if (t->nmetrics > 0) {
        PyObject *metrics = _PyDict_NewPresized(t->nmetrics), *names = PyList_New(0), *shape = NULL, *ts = NULL;
        int ok = metrics != NULL && names != NULL, epoch_same = 0;
        for (int i = 0; ok && i < t->nmetrics; i++) {
            PyObject *v = metric_value(&t->metrics[i], s, toks);
            if (v == NULL) {
                ok = 0;
                break;
            }
            PyObject *old = PyDict_GetItemWithError(e->last, t->metrics[i].name);
            double a = PyFloat_AS_DOUBLE(v);
            int same = old != NULL && PyFloat_Check(old) &&
                       (PyFloat_AS_DOUBLE(old) == a || (a != a && PyFloat_AS_DOUBLE(old) != PyFloat_AS_DOUBLE(old)));
            int is_epoch = t->metrics[i].name == s_epoch;  /* both interned */
            if (is_epoch)
                epoch_same = same;
            if (PyErr_Occurred() || (old != NULL && !PyFloat_Check(old)))
                ok = 0;
            else if (!same || is_epoch)
                ok = PyDict_SetItem(metrics, t->metrics[i].name, v) == 0 &&
                     PyList_Append(names, t->metrics[i].name) == 0;
            Py_DECREF(v);
        }
        Py_ssize_t kept = ok ? PyList_GET_SIZE(names) : 0;
        if (kept == 1 && PyList_GET_ITEM(names, 0) == s_epoch && epoch_same)
            kept = 0;  /* only the epoch, unchanged: no record */
        if (ok && kept > 0) {
            shape = PyList_AsTuple(names);
            ts = shape != NULL ? template_timestamp(e, t, s, n, toks) : NULL;
            ok = ts != NULL && emit(e, step, metrics, shape, -1, ts, lineno, out, NULL);
        }
        Py_XDECREF(metrics);
        Py_XDECREF(names);
        Py_XDECREF(shape);
        Py_XDECREF(ts);
        if (!ok) {
            PyErr_Clear();
            Py_DECREF(step);
            return 0;
        }
    }
    e->bar_epoch = bar_epoch;
    e->expect_train_bar = 0;
    e->bar_total_none = total_none;
    e->bar_total = total;
    e->bar_n = pos;
    e->bar_done = !total_none && pos >= total;
    e->has_steps = 1;
    set_attach(e, step);
    e->dirty = 1;
    return 1;
}

/* StreamParser._block_row of a format's row (pycocotools' `Average Precision ... = 0.334`) in the
 * block that format opened: _block["metrics"][name] = the value; nothing else changes. */
/* What a template is bound to in the open block (a dict): its format (`cf`), or for a block of no
 * format its row regex (`row`); borrowed, NULL (no exception) when it has neither. */
static PyObject *block_binding(PyObject *block)
{
    PyObject *cf = PyDict_GetItemWithError(block, s_cf);
    if (cf == Py_None)
        cf = PyDict_GetItemWithError(block, s_row);
    PyErr_Clear();
    return cf;
}

static int apply_block_row(Engine *e, const Template *t, const char *s, const Tok *toks)
{
    if (!PyDict_CheckExact(e->block) || t->nmetrics != 1)
        return 0;
    /* the block's format; a block of no format (`***** train metrics *****`) by its row regex */
    PyObject *cf = block_binding(e->block);
    PyObject *metrics = cf != NULL && cf == t->cf ? PyDict_GetItemWithError(e->block, s_metrics) : NULL;
    if (metrics == NULL || !PyDict_CheckExact(metrics))
        return 0;
    PyObject *v = metric_value(&t->metrics[0], s, toks);
    if (v == NULL)
        return 0;
    int r = PyDict_SetItem(metrics, t->metrics[0].name, v) == 0;
    Py_DECREF(v);
    return r;
}

/* A new dict of these keys and values, in this order (the study compares what C makes by repr);
 * NULL on a memory error (cleared: the caller declines). */
static PyObject *ordered_dict(PyObject **keys, PyObject **values, int n)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < n; i++)
        if (PyDict_SetItem(d, keys[i], values[i]) < 0)
            Py_CLEAR(d);
    PyErr_Clear();
    return d;
}

/* A line that opens a block where none is open (StreamParser._block_header, _block_row_line), with
 * no timestamp, rank or step: {"row": ..., "cf": ..., "ts": None, "rank": None, "line": lineno,
 * "metrics": {its row's metric, if it is a format's first row}, "step": None}, keys in that order. */
static int apply_block_open(Engine *e, const Template *t, const char *s, const Tok *toks, long lineno)
{
    PyObject *v = t->nmetrics == 1 ? metric_value(&t->metrics[0], s, toks) : NULL;
    if (t->nmetrics == 1 && v == NULL)
        return 0;
    PyObject *metrics = PyDict_New(), *line = PyLong_FromLong(lineno), *block = NULL;
    if (metrics != NULL && line != NULL && (v == NULL || PyDict_SetItem(metrics, t->metrics[0].name, v) == 0)) {
        PyObject *keys[7] = {s_row, s_cf, s_ts, s_rank, s_line, s_metrics, s_step};
        PyObject *values[7] = {t->block_row, t->cf, Py_None, Py_None, line, metrics, Py_None};
        block = ordered_dict(keys, values, 7);
    }
    Py_XDECREF(v);
    Py_XDECREF(metrics);
    Py_XDECREF(line);
    if (block == NULL)
        return 0;
    Py_SETREF(e->block, block);
    e->block_dirty = e->dirty = 1;
    return 1;
}

/* A dashed rule with no timestamp: where no table is open, StreamParser._box_line opens a box,
 * {"kind": "box", "rows": [], "section": None, "ts": None, "line": lineno} (in that order: the
 * study compares reprs). `closes`: it only ends the open box that holds no row yet, as _box_line
 * does (fast_line closes it); no other open table is verified for it. */
static int apply_rule(Engine *e, long lineno, int closes)
{
    if (closes) {
        /* a markdown table: the rule ends it and is read on, where nothing takes it (_generic):
         * the bar context dropped; a box of no row: _box_line closes it, nothing more */
        if (e->table_closable == ASIDE_CLOSE) {
            set_attach(e, Py_NewRef(Py_None));
            e->dirty = 1;
        }
        return 1;
    }
    if (e->table != Py_None)
        return 0;
    PyObject *rows = PyList_New(0), *line = PyLong_FromLong(lineno), *box = NULL;
    if (rows != NULL && line != NULL) {
        PyObject *keys[5] = {s_kind, s_rows, s_section, s_ts, s_line};
        PyObject *values[5] = {s_box, rows, Py_None, Py_None, line};
        box = ordered_dict(keys, values, 5);
    }
    Py_XDECREF(rows);
    Py_XDECREF(line);
    if (box == NULL)
        return 0;
    Py_SETREF(e->table, box);
    set_aside(e);
    e->close_table = 0;
    e->aux_dirty = e->dirty = 1;  /* push writes _table (and the rest of the aux state, as it is) */
    return 1;
}

/* StreamParser._epoch_header (Keras' `Epoch 3/10`): the epoch of the bars that follow (an epoch 0
 * makes epochs count from 0: _kk_base), a training bar expected next, the bar context forgotten. */
static int apply_header(Engine *e, const Template *t, const char *s, const Tok *toks)
{
    long long epoch;
    if (t->kk_base != e->kk_base || !token_int(s, &toks[t->s_slot], MAX_FACTOR_DIGITS, &epoch))
        return 0;
    if (epoch == 0)
        e->kk_base = 0;
    e->header_epoch = epoch - e->kk_base;
    e->header_epoch_none = 0;
    e->expect_train_bar = 1;
    set_attach(e, Py_NewRef(Py_None));
    e->header_dirty = e->dirty = 1;
    return 1;
}

/* StreamParser._release at the bar a redraw template reads (StreamParser._redraw_step): the
 * waiting records out, at the redrawn position when it is this bar's (same total, not back). 0
 * when C cannot (Python reads the line then; the records may have their step set already, which
 * Python sets the same). */
static int release_held(Engine *e, const Template *t, const char *s, const Tok *toks, PyObject *out)
{
    long long pos, total;
    if (t->bar_total < 0 || !token_int(s, &toks[t->bar_n], MAX_FACTOR_DIGITS, &pos) ||
        !token_int(s, &toks[t->bar_total], MAX_FACTOR_DIGITS, &total))
        return 0;
    PyObject *step = NULL;
    if (!e->bar_total_none && total == e->bar_total && pos >= e->bar_n) {
        long long epoch = e->header_epoch_none ? e->bar_epoch : e->header_epoch;
        if (epoch > (1LL << 31) || epoch < -(1LL << 31) || (step = PyLong_FromLongLong(epoch * total + pos)) == NULL)
            return 0;
    }
    PyObject *held = e->held_list;
    Py_ssize_t k = PyList_GET_SIZE(held);
    for (Py_ssize_t i = 0; step != NULL && i < k; i++) {
        PyObject *rec = PyList_GET_ITEM(held, i), *cur = PyObject_GetAttr(rec, s_step);
        int later = cur == NULL ? -1 : cur == Py_None ? 1 : PyObject_RichCompareBool(step, cur, Py_GT);
        Py_XDECREF(cur);
        if (later < 0 || (later && PyObject_SetAttr(rec, s_step, step) < 0)) {
            Py_DECREF(step);
            return 0;
        }
    }
    Py_XDECREF(step);
    Py_ssize_t at = PyList_GET_SIZE(out);
    if (PyList_SetSlice(out, at, at, held) < 0)
        return 0;
    if (PyList_SetSlice(held, 0, k, NULL) < 0) {
        PyList_SetSlice(out, at, PyList_GET_SIZE(out), NULL);
        return 0;
    }
    e->held = 0;
    e->held_dirty = e->dirty = 1;
    return 1;
}

/* A copy of a value of the unmodelled state: dicts and lists copied all the way down (the parser
 * changes them in place: a box's rows, a table's stage), anything else shared (str, None, tuples). */
static PyObject *fresh(PyObject *o)
{
    if (PyList_CheckExact(o)) {
        Py_ssize_t n = PyList_GET_SIZE(o);
        PyObject *c = PyList_New(n);
        for (Py_ssize_t i = 0; c != NULL && i < n; i++) {
            PyObject *x = fresh(PyList_GET_ITEM(o, i));
            if (x == NULL)
                Py_CLEAR(c);
            else
                PyList_SET_ITEM(c, i, x);
        }
        return c;
    }
    if (PyDict_CheckExact(o)) {
        PyObject *c = PyDict_New(), *k, *v;
        Py_ssize_t pos = 0;
        while (c != NULL && PyDict_Next(o, &pos, &k, &v)) {
            PyObject *x = fresh(v);
            if (x == NULL || PyDict_SetItem(c, k, x) < 0)
                Py_CLEAR(c);
            Py_XDECREF(x);
        }
        return c;
    }
    return Py_NewRef(o);
}

/* Whether the unmodelled state equals an aux template's aux_pre (str, None, lists and dicts of
 * them: no Python code runs). */
static int aux_is(const Engine *e, PyObject *pre)
{
    PyObject *now[4] = {e->table, e->table_title, e->copy_task, e->copy_names};
    for (int i = 0; i < 4; i++) {
        PyObject *want = PyTuple_GET_ITEM(pre, i);
        if (now[i] != want && PyObject_RichCompareBool(now[i], want, Py_EQ) != 1) {
            PyErr_Clear();
            return 0;
        }
    }
    return 1;
}

/* Copies of aux_post into v (made before a template applies: nothing declines after it does). 0 on
 * a memory error (v empty). */
static int aux_copies(PyObject *post, PyObject **v)
{
    for (int i = 0; i < 4; i++) {
        v[i] = fresh(PyTuple_GET_ITEM(post, i));
        if (v[i] == NULL) {
            for (int j = 0; j < i; j++)
                Py_CLEAR(v[j]);
            PyErr_Clear();
            return 0;
        }
    }
    return 1;
}

/* The unmodelled state set to the copies v (their references taken). */
static void aux_set(Engine *e, PyObject **v)
{
    Py_SETREF(e->table, v[0]);
    Py_SETREF(e->table_title, v[1]);
    Py_SETREF(e->copy_task, v[2]);
    Py_SETREF(e->copy_names, v[3]);
    set_aside(e);
    e->close_table = 0;
    e->aux_dirty = e->dirty = 1;
}

/* 1: the line is done, but for the text from *rest on (when *rest >= 0), a line of its own that
 * the caller reads next; 0: Python must read it (*h is its key hash when it has one). */
/* StreamParser._flush_block of the open block (a dict; the caller matched its binding) for a line
 * that is no row of it: its metrics as one record (_emit: stale values of evaluation names dropped, and no
 * record when only `epoch` is left of them), at its step (_step: its own, else the bar context's),
 * the bar context dropped; then no block. Returns 1, or 0 with nothing changed: a block with a
 * timestamp or a rank, a step C does not compute (the running count), the message after a clear. */
static int flush_block(Engine *e, PyObject *out)
{
    PyObject *b = e->block;
    if (e->held != 0)
        return 0;
    PyObject *metrics = PyDict_GetItemWithError(b, s_metrics);
    if (metrics == NULL || !PyDict_CheckExact(metrics)) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t nm = PyDict_GET_SIZE(metrics);
    if (nm == 0) {  /* nothing to emit; the bar context stays */
        Py_SETREF(e->block, Py_NewRef(Py_None));
        e->block_dirty = e->dirty = 1;
        return 1;
    }
    PyObject *rank = PyDict_GetItemWithError(b, s_rank), *ts = PyDict_GetItemWithError(b, s_ts),
             *stepv = PyDict_GetItemWithError(b, s_step), *line = PyDict_GetItemWithError(b, s_line);
    if (rank != Py_None || ts != Py_None || stepv == NULL || line == NULL || !PyLong_CheckExact(line) ||
        nm > MAX_TOKENS + 8) {
        PyErr_Clear();
        return 0;
    }
    long lineno = PyLong_AsLong(line);
    if (lineno == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    PyObject *step;
    int own = 0;
    if (stepv != Py_None) {
        int overflow = 0;
        if (!PyLong_CheckExact(stepv))
            return 0;
        long long v = PyLong_AsLongLongAndOverflow(stepv, &overflow);
        if (overflow || v == LLONG_MIN || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;  /* beyond STEP_MAX _step drops it: Python */
        }
        step = stepv, own = 1;
    } else if (e->attach != Py_None)
        step = e->attach;
    else if (!e->has_steps)
        return 0;  /* the running count of a log without steps: Python */
    else
        step = Py_None;
    /* which values are stale (an evaluation name printed again unchanged) */
    unsigned char stale[MAX_TOKENS + 8];
    Py_ssize_t pos = 0, i = 0, nstale = 0;
    PyObject *k, *v, *epoch_kept = NULL;
    while (PyDict_Next(metrics, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || !PyFloat_CheckExact(v))
            return 0;
        stale[i] = 0;
        PyObject *old = PyDict_GetItemWithError(e->last, k);
        if (old == NULL && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (old != NULL) {
            int ev = is_evalish(e->evalish, k);
            if (ev < 0) {
                PyErr_Clear();
                return 0;
            }
            if (ev && !PyFloat_Check(old))
                return 0;  /* (no float: Python compares it) */
            if (ev && !same_float(old, v))
                ev = 0;
            stale[i] = (unsigned char)ev;
            nstale += ev;
        }
        if (!stale[i] && PyUnicode_Compare(k, s_epoch) == 0)
            epoch_kept = k;
        i++;
    }
    Py_ssize_t kept = nm - nstale;
    int record = kept > 0 && !(nstale > 0 && kept == 1 && epoch_kept != NULL);
    PyObject *rec_metrics = NULL, *shape = NULL;
    if (record) {
        rec_metrics = nstale ? PyDict_New() : Py_NewRef(metrics);
        shape = PyTuple_New(kept);
        if (rec_metrics == NULL || shape == NULL)
            goto fail;
        pos = 0, i = 0;
        Py_ssize_t j = 0;
        while (PyDict_Next(metrics, &pos, &k, &v)) {
            if (!stale[i++]) {
                PyTuple_SET_ITEM(shape, j++, Py_NewRef(k));
                if (nstale && PyDict_SetItem(rec_metrics, k, v) < 0)
                    goto fail;
            }
        }
        if (PyDict_GET_SIZE(e->shapes) >= 4096) {
            int has = PyDict_Contains(e->shapes, shape);
            if (has != 1)
                goto fail;  /* a new shape in a full table: Python counts it per name */
        }
    }
    /* commit: nothing below declines */
    Py_INCREF(step);
    if (record)
        emit(e, step, rec_metrics, shape, -1, Py_None, lineno, out, NULL);
    Py_DECREF(step);
    if (own)
        e->has_steps = 1;
    set_attach(e, Py_NewRef(Py_None));
    Py_SETREF(e->block, Py_NewRef(Py_None));
    e->block_dirty = e->dirty = 1;
    Py_XDECREF(rec_metrics);
    Py_XDECREF(shape);
    return 1;
fail:
    PyErr_Clear();
    Py_XDECREF(rec_metrics);
    Py_XDECREF(shape);
    return 0;
}

static int fast_line(Engine *e, const char *s, Py_ssize_t n, long lineno, PyObject *out, uint64_t *h,
                     Py_ssize_t *rest)
{
    *h = 0;
    *rest = -1;
    if (!e->guard_ok || n > MAX_FAST_LINE)
        return 0;
    int block_open = e->block != Py_None;
    if (!block_open && is_blank(s, n)) {
        /* a blank line keeps every context (no block is open); a line of spaces after a bar is
         * tqdm.write() clearing it: its message comes next (StreamParser._held) */
        if (e->held == 0 && e->bar_n >= 0 && n > 0 && all_spaces(s, n)) {
            PyObject *list = PyList_New(0);
            if (list == NULL) {
                PyErr_Clear();
                return 0;  /* Python reads it */
            }
            Py_XSETREF(e->held_list, list);
            e->held = e->held_dirty = e->dirty = 1;
        }
        return 1;
    }
    char key[MAX_FAST_LINE];
    Tok toks[MAX_TOKENS];
    Py_ssize_t keylen;
    int nt = tokenize(s, n, key, &keylen, toks);
    if (nt < 0)
        return 0;
    *h = hash_bytes(key, keylen);
    if (block_open && PyDict_CheckExact(e->block) && !is_blank(s, n)) {
        /* a line verified to be no row of such a block ends it (flush_block), then reads on (a
         * blank line ends only a block of no format, and may start a tqdm.write() message: Python) */
        PyObject *bound = block_binding(e->block);
        for (Template *t = lookup(e, key, keylen, *h); bound != NULL && t != NULL; t = t->next) {
            if (t->flush != bound || t->nslots != nt || !slots_admit(t, s, toks))
                continue;
            if (!flush_block(e, out))
                return 0;
            block_open = 0;
            break;
        }
    }
    for (Template *t = lookup(e, key, keylen, *h); t != NULL; t = t->next) {
        /* with a block open only its rows are read here: any other line closes it in Python */
        if (t->nslots != nt || (t->kind == K_BLOCKROW) != block_open || !slots_admit(t, s, toks))
            continue;
        /* state the template was not verified in; or an open table that the line closes; or the
         * table whose row it is (compared by value: str, lists of str, None; no Python code runs) */
        int unmodelled = e->aside & ~t->aside_ok, closes = 0;
        if (t->table != NULL) {
            if (!(e->aside & ASIDE_TABLE) || PyObject_RichCompareBool(e->table, t->table, Py_EQ) != 1) {
                PyErr_Clear();
                continue;
            }
            unmodelled &= ~ASIDE_TABLE;
        } else if (t->aux_pre != NULL) {
            if (!aux_is(e, t->aux_pre))
                continue;
            unmodelled = 0;  /* verified in this very state */
        } else if (unmodelled == ASIDE_TABLE && (t->aside_ok & e->table_closable))
            unmodelled = 0, closes = 1;
        if (unmodelled)
            continue;
        /* the message after a clear: a record at the bar's step waits for the redraw (_emit) */
        PyObject *target = e->held == 1 && t->kind == K_RECORD && t->step_kind == ST_CTX ? e->held_list : out;
        if (e->held == 2) {
            /* the line after the message: only a redraw template is read here, the others in Python */
            if (t->kind != K_BAR || !t->redraw || !release_held(e, t, s, toks, out)) {
                PyErr_Clear();
                *h = 0;
                return 0;
            }
        }
        PyObject *post[4] = {NULL, NULL, NULL, NULL};
        if (t->aux_post != NULL && !aux_copies(t->aux_post, post))
            continue;
        int done;
        switch (t->kind) {
        case K_NOOP:
            done = 1;
            break;
        case K_DETACH:
            set_attach(e, Py_NewRef(Py_None));
            e->dirty = 1;
            done = 1;
            break;
        case K_RECORD:
            done = apply_record(e, t, s, n, toks, lineno, target);
            break;
        case K_BLOCKROW:
            done = apply_block_row(e, t, s, toks);
            break;
        case K_HEADER:
            done = apply_header(e, t, s, toks);
            break;
        case K_RULE:
            done = apply_rule(e, lineno, closes);
            break;
        case K_BLOCKOPEN:
            done = apply_block_open(e, t, s, toks, lineno);
            break;
        default:
            done = apply_bar(e, t, s, n, toks, lineno, out);
        }
        PyErr_Clear();
        if (done) {
            t->hits++;
            if (e->held == 1) {  /* the message after a clear: its record waits, or nothing does */
                e->held = target != out && PyList_GET_SIZE(target) > 0 ? 2 : 0;
                e->held_dirty = e->dirty = 1;
            }
            if (closes) {  /* as _table_line does before the line is read on */
                Py_SETREF(e->table, Py_NewRef(Py_None));
                e->aside &= ~ASIDE_TABLE;
                e->table_closable = 0;
                e->close_table = e->dirty = 1;
            }
            if (t->aux_post != NULL)
                aux_set(e, post);
            if (t->kind == K_BAR && t->rest_tok >= 0 && toks[t->rest_tok].end + t->rest_off < n)
                *rest = toks[t->rest_tok].end + t->rest_off;  /* within the literal gap: Engine_add */
            return 1;
        }
        for (int i = 0; i < 4; i++)
            Py_XDECREF(post[i]);
    }
    if (e->held == 2)
        *h = 0;  /* nothing is learned from the line after a message that waits (_held) */
    return 0;
}

/* ---- Engine ----------------------------------------------------------------------------------- */

static void Engine_dealloc(Engine *e)
{
    if (e->buckets != NULL)
        for (size_t i = 0; i < e->cap; i++) {
            Template *t = e->buckets[i];
            while (t != NULL) {
                Template *next = t->next;
                template_free(t);
                t = next;
            }
        }
    PyMem_Free(e->buckets);
    PyMem_Free(e->miss_hash);
    PyMem_Free(e->miss_count);
    release_context(e);
    Py_XDECREF(e->record_type);
    Py_XDECREF(e->ts_fn);
    Py_XDECREF(e->evalish);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

/* The slot offsets of a `@dataclass(slots=True)` Record(step, metrics, timestamp, line) whose
 * __init__ only assigns its fields; anything else (a subclass, a __post_init__, other fields)
 * leaves record_slots[0] == 0 and records are made by calling the type. */
static int find_record_slots(Engine *e)
{
    static const char *fields[4] = {"step", "metrics", "timestamp", "line"};
    PyObject *type = e->record_type;
    if (!PyType_Check(type) || PyObject_HasAttrString(type, "__post_init__"))
        return 0;
    PyObject *declared = PyObject_GetAttrString(type, "__slots__");
    if (declared == NULL) {
        PyErr_Clear();
        return 0;
    }
    int plain = PyTuple_Check(declared) && PyTuple_GET_SIZE(declared) == 4;
    for (int i = 0; plain && i < 4; i++)
        plain = PyUnicode_Check(PyTuple_GET_ITEM(declared, i)) &&
                PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(declared, i), fields[i]) == 0;
    Py_DECREF(declared);
    Py_ssize_t offsets[4];
    for (int i = 0; plain && i < 4; i++) {
        PyObject *d = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, fields[i]);
        plain = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (plain)
            offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    if (plain)
        memcpy(e->record_slots, offsets, sizeof(offsets));
    return 0;
}

static int Engine_init(Engine *e, PyObject *args, PyObject *kw)
{
    PyObject *record_type, *ts_fn, *evalish;
    if (!PyArg_ParseTuple(args, "OOO!", &record_type, &ts_fn, &PyTuple_Type, &evalish))
        return -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(evalish); i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(evalish, i))) {
            PyErr_SetString(PyExc_TypeError, "evalish: a tuple of str");
            return -1;
        }
    if (e->buckets != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Engine already initialised");
        return -1;
    }
    e->record_type = Py_NewRef(record_type);
    e->ts_fn = Py_NewRef(ts_fn);
    e->evalish = Py_NewRef(evalish);
    if (find_record_slots(e) < 0)
        return -1;
    e->cap = 16;
    e->buckets = PyMem_Calloc(e->cap, sizeof(Template *));
    if (e->buckets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Calls parser._slow_line(line, lineno, out, key_or_None) with the context written back first
 * and read again after; with learn_key NULL, `slow` is parser._read_line(line, lineno, out). */
static int slow_line(Engine *e, PyObject *parser, PyObject *slow, const char *s, Py_ssize_t n, long lineno,
                     PyObject *out, PyObject *learn_key)
{
    if (push(e, parser) < 0)
        return -1;
    PyObject *line = PyUnicode_DecodeUTF8(s, n, "surrogatepass");
    if (line == NULL)
        return -1;
    PyObject *num = PyLong_FromLong(lineno);
    if (num == NULL) {
        Py_DECREF(line);
        return -1;
    }
    PyObject *args[4] = {line, num, out, learn_key};
    PyObject *r = PyObject_Vectorcall(slow, args, learn_key != NULL ? 4 : 3, NULL);
    Py_DECREF(line);
    Py_DECREF(num);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return pull(e, parser);
}

/* The key of a line, as bytes, for Python to learn it under. */
static PyObject *line_key(const char *s, Py_ssize_t n)
{
    char key[MAX_FAST_LINE];
    Tok toks[MAX_TOKENS];
    Py_ssize_t keylen;
    if (n > MAX_FAST_LINE || tokenize(s, n, key, &keylen, toks) < 0)
        return Py_NewRef(Py_None);
    return PyBytes_FromStringAndSize(key, keylen);
}

/* One line: by a template, else by Python (asking it to learn the line's key on some misses);
 * text glued after a bar that a template read is then read the same way, as _bar reads it with
 * _line. -1 with an exception when Python raised. */
static int read_line(Engine *e, PyObject *parser, PyObject *slow, const char *s, Py_ssize_t n, long lineno,
                     PyObject *out)
{
    for (;;) {
        uint64_t h;
        Py_ssize_t rest;
        if (!fast_line(e, s, n, lineno, out, &h, &rest)) {
            PyObject *key = Py_None;
            /* misses in an open block are counted apart (Python's Learner keeps them apart too) */
            uint64_t mh = e->block != NULL && e->block != Py_None ? (h ^ 0x5bd1e9955bd1e995ULL) | 1 : h;
            if (h != 0 && wants_learning(count_miss(e, mh)))
                key = line_key(s, n);
            else
                Py_INCREF(key);
            int err = key == NULL || slow_line(e, parser, slow, s, n, lineno, out, key) < 0;
            Py_XDECREF(key);
            return err ? -1 : 0;
        }
        if (rest < 0)
            return 0;
        s += rest;
        n -= rest;
    }
}

PyDoc_STRVAR(run_doc, "run(parser, block: str | bytes, lineno: int, out: list) -> int | None\n\n"
             "Clean a block as parser._clean does and read its `\\n`-terminated lines; return the last\n"
             "line number, or None (nothing read) for a str with lone surrogates or bytes that are not\n"
             "UTF-8.");

static PyObject *Engine_run(Engine *e, PyObject *args)
{
    PyObject *parser, *text, *out;
    long lineno;
    if (!PyArg_ParseTuple(args, "OOlO!", &parser, &text, &lineno, &PyList_Type, &out))
        return NULL;
    Py_ssize_t size;
    const char *s;
    if (PyBytes_Check(text)) {  /* feed_bytes: no str made of the block (nor its UTF-8 again) */
        s = PyBytes_AS_STRING(text);
        size = PyBytes_GET_SIZE(text);
        if (!utf8_valid((const unsigned char *)s, size))
            Py_RETURN_NONE;  /* the caller decodes it, bad bytes replaced */
    } else if (PyUnicode_Check(text)) {
        s = PyUnicode_AsUTF8AndSize(text, &size);
        if (s == NULL) {  /* lone surrogates (feed() of such a str): the caller reads it in Python */
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "run() takes a str or bytes block");
        return NULL;
    }
    char *cleaned = NULL;
    if (needs_cleaning(s, size)) {
        cleaned = PyMem_Malloc((size_t)size + 1);
        if (cleaned == NULL)
            return PyErr_NoMemory();
        size = clean_block(s, size, cleaned);
        s = cleaned;
    }
    PyObject *slow = PyObject_GetAttr(parser, s_slow_line);
    if (slow == NULL || pull(e, parser) < 0) {
        Py_XDECREF(slow);
        PyMem_Free(cleaned);
        return NULL;
    }
    Py_ssize_t i = 0;
    int err = 0;
    while (i < size) {
        const char *nl = memchr(s + i, '\n', (size_t)(size - i));
        if (nl == NULL)
            break;  /* text after the last line end is not a line (the caller keeps it) */
        Py_ssize_t end = nl - s;
        lineno++;
        if (read_line(e, parser, slow, s + i, end - i, lineno, out) < 0) {
            err = 1;
            break;
        }
        i = end + 1;
    }
    Py_DECREF(slow);
    PyMem_Free(cleaned);
    if (!err && push(e, parser) < 0)
        err = 1;
    release_context(e);
    if (err)
        return NULL;
    return PyLong_FromLong(lineno);
}

PyDoc_STRVAR(try_line_doc, "try_line(parser, line: str, lineno: int, out: list) -> bool\n\n"
             "Apply the templates to one line against the parser's context; False if none applies.\n"
             "Text glued after a bar a template read goes to parser._read_line (nothing learned).");

static PyObject *Engine_try_line(Engine *e, PyObject *args)
{
    PyObject *parser, *text, *out;
    long lineno;
    if (!PyArg_ParseTuple(args, "OUlO!", &parser, &text, &lineno, &PyList_Type, &out))
        return NULL;
    Py_ssize_t size;
    const char *s = PyUnicode_AsUTF8AndSize(text, &size);
    if (s == NULL || pull(e, parser) < 0)
        return NULL;
    uint64_t h;
    Py_ssize_t rest;
    int done = fast_line(e, s, size, lineno, out, &h, &rest), err = 0;
    if (done && rest >= 0) {
        PyObject *read = PyObject_GetAttr(parser, s_read_line);
        err = read == NULL || slow_line(e, parser, read, s + rest, size - rest, lineno, out, NULL) < 0;
        Py_XDECREF(read);
    }
    err = err || push(e, parser) < 0;
    release_context(e);
    if (err)
        return NULL;
    return PyBool_FromLong(done);
}

/* ---- templates from Python -------------------------------------------------------------------- */

static int as_int(PyObject *o, int lo, int hi, int *out)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "template field %ld out of range [%d, %d]", v, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A form's runs of '9's, when it is a number's: 9+ (.9+)? ([eE][+-]?9+)? (see Slot). */
static void number_form(Slot *sl)
{
    const char *f = sl->text;
    Py_ssize_t n = sl->len, i = 0, a;
    sl->num_form = 0;
    sl->ff = sl->fe = -1;
    sl->echar = sl->esign = 0;
    for (a = i; i < n && f[i] == '9'; i++)
        ;
    if (i == a || i - a > 100000)
        return;
    sl->fi = (int)(i - a);
    if (i < n && f[i] == '.') {
        for (a = ++i; i < n && f[i] == '9'; i++)
            ;
        if (i == a || i - a > 100000)
            return;
        sl->ff = (int)(i - a);
    }
    if (i < n && (f[i] == 'e' || f[i] == 'E')) {
        sl->echar = f[i++];
        if (i < n && (f[i] == '+' || f[i] == '-'))
            sl->esign = f[i++];
        for (a = i; i < n && f[i] == '9'; i++)
            ;
        if (i == a || i - a > 100000)
            return;
        sl->fe = (int)(i - a);
    }
    sl->num_form = i == n;
}

static int parse_slots(Template *t, PyObject *slots)
{
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) > MAX_TOKENS) {
        PyErr_SetString(PyExc_ValueError, "slots: a tuple of at most 64 (level, bytes)");
        return -1;
    }
    t->nslots = (int)PyTuple_GET_SIZE(slots);
    t->slots = PyMem_Calloc((size_t)t->nslots + 1, sizeof(Slot));
    if (t->slots == NULL)
        return -1;
    for (int i = 0; i < t->nslots; i++) {
        PyObject *level, *text;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(slots, i), "OS", &level, &text) ||
            as_int(level, LV_NUMBER, LV_EXACT, &t->slots[i].level) < 0)
            return -1;
        t->slots[i].len = PyBytes_GET_SIZE(text);
        t->slots[i].text = PyMem_Malloc((size_t)t->slots[i].len + 1);
        if (t->slots[i].text == NULL)
            return -1;
        memcpy(t->slots[i].text, PyBytes_AS_STRING(text), (size_t)t->slots[i].len + 1);
        number_form(&t->slots[i]);
    }
    return 0;
}

static int slot_index(PyObject *o, const Template *t, int *out) { return as_int(o, 0, t->nslots - 1, out); }

/* metrics: ((name, const_float_or_None, first, last, neg), ...) */
static int parse_metrics(Template *t, PyObject *metrics, PyObject *evalish)
{
    if (!PyTuple_Check(metrics)) {
        PyErr_SetString(PyExc_ValueError, "metrics: a tuple");
        return -1;
    }
    t->nmetrics = (int)PyTuple_GET_SIZE(metrics);
    t->metrics = PyMem_Calloc((size_t)t->nmetrics + 1, sizeof(Metric));
    t->shape = PyTuple_New(t->nmetrics);
    if (t->metrics == NULL || t->shape == NULL)
        return -1;
    for (int i = 0; i < t->nmetrics; i++) {
        PyObject *name, *cval, *first, *last, *neg;
        Metric *m = &t->metrics[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(metrics, i), "UOOOO", &name, &cval, &first, &last, &neg))
            return -1;
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        m->name = name;
        PyTuple_SET_ITEM(t->shape, i, Py_NewRef(name));
        if ((m->evalish = is_evalish(evalish, name)) < 0)
            return -1;
        if (cval != Py_None) {
            if (!PyFloat_CheckExact(cval)) {
                PyErr_SetString(PyExc_ValueError, "a constant metric is a float");
                return -1;
            }
            m->cval = Py_NewRef(cval);
            continue;
        }
        if (slot_index(first, t, &m->first) < 0 || slot_index(last, t, &m->last) < 0 ||
            as_int(neg, 0, 2, &m->neg) < 0)
            return -1;
        if (m->last < m->first || (m->neg == 2 && m->last != m->first + 2)) {
            PyErr_SetString(PyExc_ValueError, "metric tokens out of order");
            return -1;
        }
    }
    t->shape_hash = PyObject_Hash(t->shape);
    return t->shape_hash == -1 ? -1 : 0;
}

/* step: () | (ST_SLOT, i) | (ST_EPT, e, p, t, base) | (ST_CTX,) | (ST_NULL,) */
static int parse_step(Template *t, PyObject *step)
{
    if (!PyTuple_Check(step)) {
        PyErr_SetString(PyExc_ValueError, "step: a tuple");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(step);
    if (n == 0) {
        t->step_kind = ST_NONE;
        return 0;
    }
    if (as_int(PyTuple_GET_ITEM(step, 0), ST_SLOT, ST_NULL, &t->step_kind) < 0)
        return -1;
    if (t->step_kind == ST_CTX || t->step_kind == ST_NULL)
        return n == 1 ? 0 : (PyErr_SetString(PyExc_ValueError, "step"), -1);
    if (t->step_kind == ST_SLOT)
        return n == 2 ? slot_index(PyTuple_GET_ITEM(step, 1), t, &t->s_slot) : (PyErr_SetString(PyExc_ValueError, "step"), -1);
    int base;
    if (n != 5 || slot_index(PyTuple_GET_ITEM(step, 1), t, &t->e_slot) < 0 ||
        slot_index(PyTuple_GET_ITEM(step, 2), t, &t->p_slot) < 0 ||
        slot_index(PyTuple_GET_ITEM(step, 3), t, &t->t_slot) < 0 ||
        as_int(PyTuple_GET_ITEM(step, 4), -1000, 1000, &base) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "step");
        return -1;
    }
    t->base = base;
    return 0;
}

/* The literal bytes after token `tok` in the key, up to the next token or bar fill: what the key
 * fixes of the line there. */
static Py_ssize_t literal_after(const Template *t, int tok)
{
    Py_ssize_t at = 0, gap = 0;
    for (int k = -1; at < t->keylen; at++)
        if (t->key[at] == '\0' && ++k == tok)
            break;  /* at: the NUL of the token */
    while (at + 1 + gap < t->keylen && t->key[at + 1 + gap] != '\0' && t->key[at + 1 + gap] != FILL)
        gap++;
    return gap;
}

/* ts: None | (first, last, extra); the extra bytes in the literal text after the last token */
static int parse_ts(Template *t, PyObject *ts)
{
    t->ts_first = t->ts_last = -1;
    if (ts == Py_None)
        return 0;
    PyObject *a, *b, *x;
    if (!PyArg_ParseTuple(ts, "OOO", &a, &b, &x) || slot_index(a, t, &t->ts_first) < 0 ||
        slot_index(b, t, &t->ts_last) < 0 || as_int(x, 0, 64, &t->ts_extra) < 0)
        return -1;
    if (t->ts_extra > literal_after(t, t->ts_last)) {
        PyErr_SetString(PyExc_ValueError, "a timestamp ends beyond the literal text after its last token");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(add_doc, "add(key: bytes, kind, slots, step, metrics, ts, kk_base, bar, extra=None, aside=0, table=None)"
             " -> bool\n\n"
             "Add a learned template (see parsing/fastpath.py for the fields); False when full.");

static PyObject *Engine_add(Engine *e, PyObject *args)
{
    PyObject *key, *kind, *slots, *step, *metrics, *ts, *kk_base, *bar, *extra = Py_None, *aside = NULL;
    PyObject *table = Py_None, *aux = Py_None, *flush = Py_None;
    if (!PyArg_ParseTuple(args, "SOOOOOOO|OOOOO", &key, &kind, &slots, &step, &metrics, &ts, &kk_base, &bar, &extra,
                          &aside, &table, &aux, &flush))
        return NULL;
    Template *t = PyMem_Calloc(1, sizeof(Template));
    if (t == NULL)
        return PyErr_NoMemory();
    t->keylen = PyBytes_GET_SIZE(key);
    t->key = PyMem_Malloc((size_t)t->keylen + 1);
    if (t->key == NULL) {
        template_free(t);
        return PyErr_NoMemory();
    }
    memcpy(t->key, PyBytes_AS_STRING(key), (size_t)t->keylen + 1);
    t->hash = hash_bytes(t->key, t->keylen);
    int kk = 0;
    int bad = as_int(kind, K_NOOP, K_BLOCKOPEN, &t->kind) < 0 || parse_slots(t, slots) < 0 ||
              parse_step(t, step) < 0 || parse_metrics(t, metrics, e->evalish) < 0 || parse_ts(t, ts) < 0 ||
              as_int(kk_base, -1000, 1000, &kk) < 0 ||
              (aside != NULL && as_int(aside, 0, ASIDE_TABLE | ASIDE_COPY | ASIDE_CLOSE | ASIDE_CLOSE_BOX, &t->aside_ok) < 0);
    t->kk_base = kk;
    if (!bad && table != Py_None) {
        if (!PyDict_CheckExact(table)) {
            PyErr_SetString(PyExc_ValueError, "table: the open table (a dict) or None");
            bad = 1;
        } else
            t->table = Py_NewRef(table);
    }
    if (!bad && flush != Py_None) {
        if (t->kind == K_BLOCKROW || t->kind == K_BLOCKOPEN) {
            PyErr_SetString(PyExc_ValueError, "flush: not of a template that reads or opens a block");
            bad = 1;
        } else
            t->flush = Py_NewRef(flush);
    }
    if (!bad && aux != Py_None) {
        /* (aux_pre, aux_post): (_table, _table_title, _copy_task, _copy_names) before and after */
        PyObject *pre, *post;
        if (!PyArg_ParseTuple(aux, "O!O!", &PyTuple_Type, &pre, &PyTuple_Type, &post) || PyTuple_GET_SIZE(pre) != 4 ||
            PyTuple_GET_SIZE(post) != 4 || t->table != NULL || (t->kind != K_NOOP && t->kind != K_DETACH &&
                                                                t->kind != K_RECORD)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "aux: (pre, post) 4-tuples, of a no-op, detach or record template");
            bad = 1;
        } else {
            t->aux_pre = PyTuple_New(4);
            t->aux_post = PyTuple_New(4);
            for (int i = 0; i < 4 && t->aux_pre != NULL && t->aux_post != NULL; i++) {
                PyObject *a = fresh(PyTuple_GET_ITEM(pre, i)), *b = fresh(PyTuple_GET_ITEM(post, i));
                if (a == NULL || b == NULL) {
                    Py_XDECREF(a);
                    Py_XDECREF(b);
                    Py_CLEAR(t->aux_pre);
                    break;
                }
                PyTuple_SET_ITEM(t->aux_pre, i, a);
                PyTuple_SET_ITEM(t->aux_post, i, b);
            }
            bad = t->aux_pre == NULL || t->aux_post == NULL;
        }
    }
    t->rank_slot = -1;
    t->attach_emit = 1;
    if (!bad && t->kind == K_BAR) {
        /* (position token, total token (-1: none, `0/?`)[, flags[, rest_tok, rest_off]]); flags: 1
         * eval_noop, 2 redraw, 4 described (a bar of no total only) */
        PyObject *bn, *bt, *ev = NULL, *rt = NULL, *ro = NULL;
        t->rest_tok = -1;
        bad = !PyArg_ParseTuple(bar, "OO|OOO", &bn, &bt, &ev, &rt, &ro) || slot_index(bn, t, &t->bar_n) < 0 ||
              as_int(bt, -1, t->nslots - 1, &t->bar_total) < 0 || (ev != NULL && as_int(ev, 0, 7, &t->eval_noop) < 0) ||
              (rt != NULL && (ro == NULL || as_int(rt, -1, t->nslots - 1, &t->rest_tok) < 0 ||
                              as_int(ro, 0, MAX_FAST_LINE, &t->rest_off) < 0));
        t->redraw = (t->eval_noop >> 1) & 1;
        t->described = t->eval_noop >> 2;
        t->eval_noop &= 1;
        if (!bad && t->described && (t->bar_total >= 0 || t->step_kind == ST_EPT)) {
            PyErr_SetString(PyExc_ValueError, "only a bar of no total is described");
            bad = 1;
        }
        if (!bad && t->rest_tok >= 0) {
            /* the rest starts in the literal gap after its token: the key fixes that gap's length */
            if (t->rest_off > literal_after(t, t->rest_tok)) {
                PyErr_SetString(PyExc_ValueError, "a bar's rest starts beyond the gap after its token");
                bad = 1;
            }
        }
        if (!bad && !(t->step_kind == ST_NONE || (t->step_kind == ST_EPT && t->bar_total >= 0 && t->p_slot == t->bar_n &&
                                                  t->t_slot == t->bar_total))) {
            PyErr_SetString(PyExc_ValueError, "a bar's step: () or (ST_EPT, epoch, its position, its total, base)");
            bad = 1;
        }
    }
    if (!bad && t->kind == K_BLOCKROW) {
        /* extra: the format (compared by identity with _block["cf"]); one metric, no step */
        if (extra == Py_None || t->nmetrics != 1 || t->step_kind != ST_NONE) {
            PyErr_SetString(PyExc_ValueError, "a block row: one metric, no step, its format");
            bad = 1;
        } else
            t->cf = Py_NewRef(extra);
    }
    if (!bad && t->kind == K_BLOCKOPEN) {
        /* extra: (row regex, format) of the block it opens; at most one metric (its first row), no step */
        PyObject *row, *cf;
        if (!PyArg_ParseTuple(extra, "OO", &row, &cf) || t->nmetrics > 1 || t->step_kind != ST_NONE ||
            t->ts_first >= 0) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "a block opener: (row, format), at most one metric, no step or timestamp");
            bad = 1;
        } else {
            t->block_row = Py_NewRef(row);
            t->cf = Py_NewRef(cf);
        }
    }
    if (!bad && t->kind == K_RECORD && extra != Py_None) {
        /* (rank_slot or -1, attach_emit, attach_none) */
        PyObject *rs, *ae, *an;
        bad = !PyArg_ParseTuple(extra, "OOO", &rs, &ae, &an) || as_int(rs, -1, t->nslots - 1, &t->rank_slot) < 0 ||
              as_int(ae, 0, 1, &t->attach_emit) < 0 || as_int(an, 0, 1, &t->attach_none) < 0;
    }
    if (!bad && t->nmetrics > MAX_TOKENS + 8) {
        PyErr_SetString(PyExc_ValueError, "too many metrics");
        bad = 1;
    }
    if (!bad && t->kind == K_RULE && (t->step_kind != ST_NONE || t->nmetrics != 0 || t->table != NULL)) {
        PyErr_SetString(PyExc_ValueError, "a rule: no step, no metrics, no table");
        bad = 1;
    }
    if (!bad && t->kind == K_HEADER && (t->step_kind != ST_SLOT || t->nmetrics != 0)) {
        PyErr_SetString(PyExc_ValueError, "an epoch header: its epoch as the step's token, no metrics");
        bad = 1;
    }
    if (!bad && t->kind == K_RECORD && (t->step_kind == ST_NONE || t->nmetrics == 0)) {
        PyErr_SetString(PyExc_ValueError, "a record template needs a step and metrics");
        bad = 1;
    }
    if (bad) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        template_free(t);
        return NULL;
    }
    int r = insert(e, t);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

static Py_ssize_t Engine_len(Engine *e) { return (Py_ssize_t)e->ntemplates; }

PyDoc_STRVAR(usage_doc, "usage(key: bytes) -> (templates, lines)\n\n"
             "How many templates a key has and how many lines they read so far.");

static PyObject *Engine_usage(Engine *e, PyObject *key)
{
    if (!PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "usage: bytes");
        return NULL;
    }
    const char *k = PyBytes_AS_STRING(key);
    Py_ssize_t n = PyBytes_GET_SIZE(key);
    long long templates = 0;
    unsigned long long hits = 0;
    for (Template *t = lookup(e, k, n, hash_bytes(k, n)); t != NULL; t = t->next) {
        templates++;
        hits += t->hits;
    }
    return Py_BuildValue("(LK)", templates, hits);
}

PyDoc_STRVAR(line_key_doc, "line_key(line: bytes) -> (key: bytes, tokens: int) | None\n\n"
             "The key C looks a line up by and its number of tokens; None for a line C never reads.");

static PyObject *module_line_key(PyObject *mod, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "line_key: bytes");
        return NULL;
    }
    char key[MAX_FAST_LINE];
    Tok toks[MAX_TOKENS];
    Py_ssize_t keylen, n = PyBytes_GET_SIZE(data);
    int nt = n > MAX_FAST_LINE ? -1 : tokenize(PyBytes_AS_STRING(data), n, key, &keylen, toks);
    if (nt < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(y#i)", key, keylen, nt);
}

PyDoc_STRVAR(clean_doc, "clean(block: str) -> str\n\nWhat Engine.run does to a block first (parser._clean).");

static PyObject *module_clean(PyObject *mod, PyObject *text)
{
    Py_ssize_t size;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "clean: a str");
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8AndSize(text, &size);
    if (s == NULL)
        return NULL;
    char *buf = PyMem_Malloc((size_t)size + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyObject *r = PyUnicode_DecodeUTF8(buf, clean_block(s, size, buf), "strict");
    PyMem_Free(buf);
    return r;
}

PyDoc_STRVAR(to_float_doc, "to_float(token: bytes) -> float | None\n\n"
             "float() of a number token as C computes it (None when C would not read it).");

static PyObject *module_to_float(PyObject *mod, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "to_float: bytes");
        return NULL;
    }
    Py_ssize_t k = PyBytes_GET_SIZE(data);
    const char *s = PyBytes_AS_STRING(data);
    Tok tok;
    Metric m = {NULL, NULL, 0, 0, 0, 0};
    if (k == 0 || k > 100)
        Py_RETURN_NONE;
    if (!is_digit((unsigned char)s[0]) || scan_number(s, 0, k, &tok) != k) {
        tok.start = 0, tok.end = k, tok.sig = 20;  /* no one token: its text read as a whole (fast_double) */
    }
    PyObject *v = metric_value(&m, s, &tok);
    if (v == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return v;
}

PyDoc_STRVAR(form_admits_doc, "form_admits(form: bytes, token: bytes) -> tuple[bool, bool] | None\n\n"
             "Whether a FORM slot of this form admits the number token, as slots_admit tells it from\n"
             "tokenize's counts and as same_form reads the text (for tests: they must agree); None when\n"
             "the token is not one number token or the form not a number's.");

static PyObject *module_form_admits(PyObject *mod, PyObject *args)
{
    const char *form, *s;
    Py_ssize_t flen, n;
    if (!PyArg_ParseTuple(args, "y#y#", &form, &flen, &s, &n))
        return NULL;
    Slot sl = {LV_FORM, (char *)form, flen, 0, 0, 0, 0, 0, 0};
    Template t = {0};
    Tok tok;
    number_form(&sl);
    if (n == 0 || n > MAX_FAST_LINE || !sl.num_form || !is_digit((unsigned char)s[0]) || scan_number(s, 0, n, &tok) != n)
        Py_RETURN_NONE;
    t.nslots = 1;
    t.slots = &sl;
    return Py_BuildValue("(OO)", slots_admit(&t, s, &tok) ? Py_True : Py_False,
                         same_form(s, n, form, flen) ? Py_True : Py_False);
}

PyDoc_STRVAR(same_items_doc, "same_items(a: dict, b: dict, floats: bool) -> bool | None\n\n"
             "Whether two dicts hold the same keys in the same order with the same values: the same\n"
             "object, or (floats) two floats of one repr (the same bits, or both NaN), or (not floats)\n"
             "equal values. None when it cannot tell (floats: keys in another order, or a pair of\n"
             "values that are not both floats): the caller compares them itself. The learner compares\n"
             "the parser's copies after C and after Python with it (hundreds of names in a mixed log).");

static PyObject *module_same_items(PyObject *mod, PyObject *args)
{
    PyObject *a, *b, *ka, *va, *kb, *vb;
    int floats;
    if (!PyArg_ParseTuple(args, "O!O!p", &PyDict_Type, &a, &PyDict_Type, &b, &floats))
        return NULL;
    if (a == b)
        Py_RETURN_TRUE;
    if (PyDict_GET_SIZE(a) != PyDict_GET_SIZE(b))
        Py_RETURN_FALSE;
    Py_ssize_t i = 0, j = 0;
    while (PyDict_Next(a, &i, &ka, &va)) {
        if (!PyDict_Next(b, &j, &kb, &vb))
            Py_RETURN_NONE;
        if (ka != kb) {  /* keys are str or tuples of str: comparing them runs no Python code */
            int eq = PyObject_RichCompareBool(ka, kb, Py_EQ);
            if (eq < 0)
                return NULL;
            if (!eq) {
                if (floats)
                    Py_RETURN_NONE;
                Py_RETURN_FALSE;
            }
        }
        if (va == vb)
            continue;
        if (floats) {
            if (!PyFloat_CheckExact(va) || !PyFloat_CheckExact(vb))
                Py_RETURN_NONE;
            double x = PyFloat_AS_DOUBLE(va), y = PyFloat_AS_DOUBLE(vb);
            if (memcmp(&x, &y, sizeof x) != 0 && !(isnan(x) && isnan(y)))
                Py_RETURN_FALSE;
            continue;
        }
        int eq = PyObject_RichCompareBool(va, vb, Py_EQ);
        if (eq < 0)
            return NULL;
        if (!eq)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef module_methods[] = {
    {"same_items", (PyCFunction)module_same_items, METH_VARARGS, same_items_doc},
    {"to_float", (PyCFunction)module_to_float, METH_O, to_float_doc},
    {"form_admits", (PyCFunction)module_form_admits, METH_VARARGS, form_admits_doc},
    {"clean", (PyCFunction)module_clean, METH_O, clean_doc},
    {"line_key", (PyCFunction)module_line_key, METH_O, line_key_doc},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Engine_methods[] = {
    {"run", (PyCFunction)Engine_run, METH_VARARGS, run_doc},
    {"try_line", (PyCFunction)Engine_try_line, METH_VARARGS, try_line_doc},
    {"add", (PyCFunction)Engine_add, METH_VARARGS, add_doc},
    {"usage", (PyCFunction)Engine_usage, METH_O, usage_doc},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Engine_seq = {.sq_length = (lenfunc)Engine_len};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "parsing._fastcore.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Engine(record_type, timestamp_fn, evalish): learned line templates, applied in C (evalish: the prefixes of evaluation names, formats.EVALISH_PREFIXES).",
    .tp_methods = Engine_methods,
    .tp_as_sequence = &Engine_seq,
    .tp_init = (initproc)Engine_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcore", "The parser's compiled fast path (see parsing/fastpath.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastcore(void)
{
    struct { PyObject **slot; const char *name; } names[] = {
        {&s_has_steps, "_has_steps"}, {&s_attach, "_attach"}, {&s_kk_base, "_kk_base"}, {&s_block, "_block"},
        {&s_table, "_table"}, {&s_copy_names, "_copy_names"}, {&s_last, "_last"}, {&s_shapes, "_shapes"},
        {&s_bar_total, "_bar_total"}, {&s_bar_n, "_bar_n"}, {&s_bar_done, "_bar_done"},
        {&s_bar_epoch, "_bar_epoch"}, {&s_header_epoch, "_header_epoch"},
        {&s_expect_train_bar, "_expect_train_bar"}, {&s_slow_line, "_slow_line"}, {&s_read_line, "_read_line"}, {&s_primary, "_primary"}, {&s_held, "_held"}, {&s_step, "step"},
        {&s_epoch, "epoch"}, {&s_ts_bases, "_TS_BASES"}, {&s_cf, "cf"}, {&s_metrics, "metrics"}, {&s_row, "row"}, {&s_table_title, "_table_title"}, {&s_copy_task, "_copy_task"},
        {&s_kind, "kind"}, {&s_markdown, "markdown"}, {&s_box, "box"}, {&s_rows, "rows"}, {&s_section, "section"},
        {&s_ts, "ts"}, {&s_line, "line"}, {&s_rank, "rank"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL)
            return NULL;
    if ((one = PyLong_FromLong(1)) == NULL || PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_FAST_LINE", MAX_FAST_LINE) < 0 ||
        PyModule_AddIntConstant(m, "MAX_TOKENS", MAX_TOKENS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
