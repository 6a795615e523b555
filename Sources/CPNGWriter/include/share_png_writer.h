#ifndef SHARE_PNG_WRITER_H
#define SHARE_PNG_WRITER_H

#include <stddef.h>
#include <stdint.h>

/// A growable byte buffer filled by share_png_encode_rgb and released with share_png_buffer_free.
typedef struct share_png_buffer {
    uint8_t *bytes;
    size_t count;
    size_t capacity;
} share_png_buffer;

/// Row filters, as libpng's PNG_FILTER_* flags (one or several).
enum {
    SHARE_PNG_FILTER_NONE = 0x08,
    SHARE_PNG_FILTER_SUB = 0x10,
    SHARE_PNG_FILTER_UP = 0x20,
    SHARE_PNG_FILTER_AVG = 0x40,
    SHARE_PNG_FILTER_PAETH = 0x80,
};

/// Encodes tightly or loosely packed 8-bit RGB rows as a PNG with libpng's full API.
///
/// Every libpng error is caught here, with setjmp, and returned as a non-zero code with a message in `error`;
/// no longjmp ever leaves this function. On success `out` holds the PNG bytes and must be released with
/// share_png_buffer_free; on failure it is left empty.
///
/// - `rgb`: `height` rows of `width` RGB pixels, each row `stride` bytes apart.
/// - `level`: zlib level 0-9.
/// - `filters`: a combination of SHARE_PNG_FILTER_* flags.
int share_png_encode_rgb(const uint8_t *rgb, uint32_t width, uint32_t height, size_t stride, int level, int filters,
                         share_png_buffer *out, char *error, size_t error_capacity);

/// Releases the bytes of a buffer filled by share_png_encode_rgb.
void share_png_buffer_free(share_png_buffer *buffer);

#endif
