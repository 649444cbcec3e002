/* The compiled-in bitmap font. The glyph sheet below is the font itself: each band draws twelve
 * glyphs, five columns each with a blank column between, in nine rows (seven above the baseline,
 * two of descenders). Drawn for bntrain; public domain. Decoding the sheet on each lookup costs
 * a few dozen byte reads and keeps the font free of global state, so threads can share it. */
#include "plot/font.h"

#include <string.h>

enum { SHEET_COLS = 5, GLYPHS_PER_BAND = 12, SPACE_ADVANCE = 3 };

/* The extra code points, in sheet order after ASCII 32..126. */
static const uint32_t greek_code_points[] = {0x03B3, 0x03B7, 0x03BB, 0x03BC, 0x03C3};
#define N_ASCII 95
#define COMBINING_MACRON 0x0304
#define INVALID_CODE_POINT 0xFFFD

static const char *const sheet[] = {
    /* sp    !     "     #     $     %     &     '     (     )     *     + */
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... .....",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. ..... ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#..",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. #####",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#..",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    /* ,     -     .     /     0     1     2     3     4     5     6     7 */
    "..... ..... ..... ....# .###. ..#.. .###. .###. ...#. ##### ..##. #####",
    "..... ..... ..... ....# #...# .##.. #...# #...# ..##. #.... .#... ....#",
    "..... ..... ..... ...#. #...# ..#.. ....# ....# .#.#. ####. #.... ...#.",
    "..... .###. ..... ..#.. #...# ..#.. ...#. ..##. #..#. ....# ####. ..#..",
    "..... ..... ..... .#... #...# ..#.. ..#.. ....# ##### ....# #...# .#...",
    "..... ..... ..... #.... #...# ..#.. .#... #...# ...#. #...# #...# .#...",
    "..#.. ..... ..#.. #.... .###. .###. ##### .###. ...#. .###. .###. .#...",
    "..#.. ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    /* 8     9     :     ;     <     =     >     ?     @     A     B     C */
    ".###. .###. ..... ..... ...#. ..... .#... .###. .###. .###. ####. .###.",
    "#...# #...# ..... ..... ..#.. ..... ..#.. #...# #...# #...# #...# #...#",
    "#...# #...# ..#.. ..#.. .#... ##### ...#. ....# #.### #...# #...# #....",
    ".###. .#### ..... ..... #.... ..... ....# ...#. #.#.# ##### ####. #....",
    "#...# ....# ..... ..... .#... ##### ...#. ..#.. #.### #...# #...# #....",
    "#...# ...#. ..... ..... ..#.. ..... ..#.. ..... #.... #...# #...# #...#",
    ".###. .##.. ..#.. ..#.. ...#. ..... .#... ..#.. .###. #...# ####. .###.",
    "..... ..... ..... ..#.. ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..... .....",
    /* D     E     F     G     H     I     J     K     L     M     N     O */
    "####. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.",
    "#...# #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "#...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#...# #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    "####. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    /* P     Q     R     S     T     U     V     W     X     Y     Z     [ */
    "####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###.",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#...",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#...",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#...",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#...",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#...",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    /* \     ]     ^     _     `     a     b     c     d     e     f     g */
    "#.... .###. ..#.. ..... .#... ..... #.... ..... ....# ..... ..##. .....",
    "#.... ...#. .#.#. ..... ..#.. ..... #.... ..... ....# ..... .#... .....",
    ".#... ...#. #...# ..... ...#. .###. ####. .###. .#### .###. .#... .####",
    "..#.. ...#. ..... ..... ..... ....# #...# #.... #...# #...# ###.. #...#",
    "...#. ...#. ..... ..... ..... .#### #...# #.... #...# ##### .#... #...#",
    "....# ...#. ..... ..... ..... #...# #...# #...# #...# #.... .#... #...#",
    "....# .###. ..... ..... ..... .#### ####. .###. .#### .###. .#... .####",
    "..... ..... ..... ##### ..... ..... ..... ..... ..... ..... ..... ....#",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .###.",
    /* h     i     j     k     l     m     n     o     p     q     r     s */
    "#.... ..#.. ...#. #.... .##.. ..... ..... ..... ..... ..... ..... .....",
    "#.... ..... ..... #.... ..#.. ..... ..... ..... ..... ..... ..... .....",
    "#.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###. ####. .#### #.##. .####",
    "##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...# #...# #...# ##..# #....",
    "#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...# #...# #...# #.... .###.",
    "#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# #...# #...# #.... ....#",
    "#...# .###. ...#. #..#. .###. #.#.# #...# .###. ####. .#### #.... ####.",
    "..... ..... #..#. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    "..... ..... .##.. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    /* t     u     v     w     x     y     z     {     |     }     ~     γ */
    ".#... ..... ..... ..... ..... ..... ..... ...## ..#.. ##... ..... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. ..... .....",
    "###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#... #...#",
    ".#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.# .#..#",
    ".#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#. .#.#.",
    ".#..# #..## .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. ..... ..#..",
    "..##. .##.# ..#.. .#.#. #...# .#### ##### ...## ..#.. ##... ..... ..#..",
    "..... ..... ..... ..... ..... ....# ..... ..... ..#.. ..... ..... .#.#.",
    "..... ..... ..... ..... ..... .###. ..... ..... ..... ..... ..... ..#..",
    /* η     λ     μ     σ */
    "..... ##... ..... .....",
    "..... ..#.. ..... .....",
    "#.##. ..#.. #...# .####",
    "##..# .#.#. #...# #..#.",
    "#...# .#.#. #...# #...#",
    "#...# #...# #..## #...#",
    "#...# #...# ###.# .###.",
    "....# ..... #.... .....",
    "....# ..... #.... .....",
};

static const size_t n_glyphs = N_ASCII + sizeof greek_code_points / sizeof greek_code_points[0];

size_t font_utf8_length(const char *text, size_t available) {
    const unsigned char *s = (const unsigned char *)text;
    size_t length = s[0] < 0x80             ? 1
                    : (s[0] & 0xE0) == 0xC0 ? 2
                    : (s[0] & 0xF0) == 0xE0 ? 3
                    : (s[0] & 0xF8) == 0xF0 ? 4
                                            : 0;
    if (length == 0 || length > available) return 0;
    for (size_t i = 1; i < length; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return length;
}

/* Decodes one UTF-8 sequence; a malformed or truncated one consumes a single byte. */
static uint32_t utf8_next(const char **text, const char *end) {
    static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    const unsigned char *s = (const unsigned char *)*text;
    size_t length = font_utf8_length(*text, (size_t)(end - *text));
    if (length == 0) {
        (*text)++;
        return INVALID_CODE_POINT;
    }
    uint32_t code_point = s[0] & lead_mask[length];
    for (size_t i = 1; i < length; i++)
        code_point = code_point << 6 | (s[i] & 0x3F);
    *text += length;
    return code_point;
}

static size_t glyph_index(uint32_t code_point) {
    if (code_point >= 32 && code_point <= 126) return code_point - 32;
    for (size_t i = N_ASCII; i < n_glyphs; i++)
        if (greek_code_points[i - N_ASCII] == code_point) return i;
    return '?' - 32;
}

/* Reads glyph `index` off the sheet and trims its blank columns. */
static void glyph_from_sheet(size_t index, font_glyph *glyph) {
    const char *const *band = &sheet[index / GLYPHS_PER_BAND * FONT_ROWS];
    size_t first_column = index % GLYPHS_PER_BAND * (SHEET_COLS + 1);
    unsigned used = 0;
    for (int r = 0; r < FONT_ROWS; r++) {
        glyph->rows[r] = 0;
        for (int c = 0; c < SHEET_COLS; c++)
            if (band[r][first_column + (size_t)c] == '#') glyph->rows[r] |= (uint8_t)(1u << c);
        used |= glyph->rows[r];
    }
    if (!used) {
        glyph->width = 0;
        return;
    }
    int left = 0, right = SHEET_COLS - 1;
    while (!(used >> left & 1))
        left++;
    while (!(used >> right & 1))
        right--;
    for (int r = 0; r < FONT_ROWS; r++)
        glyph->rows[r] >>= left;
    glyph->width = right - left + 1;
}

void font_cursor_init(font_cursor *cursor, const char *text, size_t length) {
    cursor->next = text;
    cursor->end = text + length;
    cursor->pen = 0;
    cursor->last_x = 0;
    cursor->last_width = 0;
}

int font_cursor_next(font_cursor *cursor, font_glyph *glyph, int *x) {
    if (cursor->next >= cursor->end) return 0;
    uint32_t code_point = utf8_next(&cursor->next, cursor->end);
    if (code_point == COMBINING_MACRON) {
        /* A bar in the top row over the previous glyph: x-height letters leave a gap below it. */
        memset(glyph, 0, sizeof *glyph);
        glyph->width = cursor->last_width;
        glyph->rows[0] = (uint8_t)((1u << cursor->last_width) - 1);
        *x = cursor->last_x;
        return 1;
    }
    glyph_from_sheet(glyph_index(code_point), glyph);
    *x = cursor->pen;
    cursor->last_x = cursor->pen;
    cursor->last_width = glyph->width;
    cursor->pen += glyph->width > 0 ? glyph->width + 1 : SPACE_ADVANCE;
    return 1;
}

int font_text_width(const char *text, size_t length) {
    font_cursor cursor;
    font_glyph glyph;
    int x, width = 0;
    font_cursor_init(&cursor, text, length);
    while (font_cursor_next(&cursor, &glyph, &x))
        if (x + glyph.width > width) width = x + glyph.width;
    return width;
}
