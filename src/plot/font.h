/* The compiled-in bitmap font: 5x7 glyphs with two rows of descenders, for ASCII 32..126 and
 * the Greek letters the figures need (gamma, eta, lambda, mu, sigma). The glyphs are drawn for
 * bntrain (src/plot/font.c shows them as pictures) and are public domain. Text is UTF-8; a
 * combining macron (U+0304) draws a bar over the glyph before it, which is how the figures
 * write eta-bar. Glyphs are proportional: each is as wide as its ink plus one blank column. */
#ifndef BNTRAIN_FONT_H
#define BNTRAIN_FONT_H

#include <stddef.h>
#include <stdint.h>

enum {
    FONT_ROWS = 9,   /* rows of a glyph, top to bottom */
    FONT_ASCENT = 7, /* rows above the baseline; the other two are descenders */
};

typedef struct {
    uint8_t rows[FONT_ROWS]; /* bit c set: column c (counted from the left) is ink */
    int width;               /* columns from the leftmost to the rightmost ink, 0 for space */
} font_glyph;

/* Walks a UTF-8 string glyph by glyph. */
typedef struct {
    const char *next, *end;
    int pen;                /* x of the next glyph, in font pixels from the start */
    int last_x, last_width; /* the previous glyph, for combining marks */
} font_cursor;

void font_cursor_init(font_cursor *cursor, const char *text, size_t length);

/* Fills the next glyph and its x (font pixels from the start of the text); returns 0 at the
 * end. Code points the font lacks and invalid UTF-8 come out as '?'. */
int font_cursor_next(font_cursor *cursor, font_glyph *glyph, int *x);

/* Length of the valid UTF-8 sequence at text (at most `available` bytes, at least 1), or 0 if
 * it is not valid UTF-8. */
size_t font_utf8_length(const char *text, size_t available);

/* Width of the text in font pixels, from its start to its last ink column. */
int font_text_width(const char *text, size_t length);

#endif
