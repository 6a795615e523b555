#ifndef SHARE_STRIP_PNG_H
#define SHARE_STRIP_PNG_H

#include <stddef.h>
#include <stdint.h>

/// Pieces of a PNG encoder that compresses horizontal strips of rows independently, so that strips can
/// be compressed in parallel and an unchanged strip's bytes can be reused in the next frame.
///
/// Each strip is filtered (its first row with SUB, so it never looks at the strip above; every other row with
/// the filter asked for) and compressed as raw deflate ending in a sync flush: byte-aligned and not final, so
/// the PNG's zlib stream is a 2-byte header, every strip's bytes in order, an empty final block and the adler32
/// of all the filtered bytes (combined from the strips' with share_strip_adler32_combine).
///
/// No function here uses setjmp; every failure is a non-zero SHARE_STRIP_* status.

/// One compressor: a zlib stream, the run-length coder's buffer and a buffer for a strip's filtered rows. Not
/// thread-safe: use each worker on one thread at a time.
typedef struct share_strip_worker share_strip_worker;

/// Row filters for every row of a strip but its first (which always uses SUB).
enum {
    SHARE_STRIP_FILTER_UP = 2,
    SHARE_STRIP_FILTER_PAETH = 4,
};

/// How strips are compressed.
enum {
    /// zlib's default strategy: LZ77 matches at the worker's level.
    SHARE_STRIP_STRATEGY_DEFAULT = 0,
    /// Run-length matches only (a byte repeating the one before, as zlib's Z_RLE finds them), written by this
    /// file's own deflate coder: one block with Huffman codes made for the strip (the level changes nothing).
    SHARE_STRIP_STRATEGY_RLE = 3,
    /// Per strip: LZ77 for strips that look like text or user interface (most filtered bytes zero, but not
    /// nearly all), run lengths for the others (photos, gradients, flat areas).
    SHARE_STRIP_STRATEGY_ADAPTIVE = 100,
};

/// Statuses.
enum {
    SHARE_STRIP_OK = 0,
    SHARE_STRIP_INVALID_ARGUMENT = 1,
    SHARE_STRIP_OUT_OF_MEMORY = 2,
    SHARE_STRIP_OUTPUT_TOO_SMALL = 3,
    SHARE_STRIP_ZLIB_FAILED = 4,
};

/// What compressing one strip produced.
typedef struct share_strip_result {
    /// Compressed bytes written to `out`.
    size_t count;
    /// adler32 of the strip's filtered bytes (each row's filter byte and its width*3 bytes).
    uint32_t adler;
    /// crc32 of the compressed bytes.
    uint32_t crc;
    /// How many filtered bytes the strip holds: rows * (width * 3 + 1).
    size_t raw_length;
    /// The strategy the strip was compressed with: SHARE_STRIP_STRATEGY_DEFAULT or SHARE_STRIP_STRATEGY_RLE.
    int strategy;
} share_strip_result;

/// A worker compressing with zlib `level` (1-9) and `strategy` (a SHARE_STRIP_STRATEGY_*), or NULL when out of
/// memory or the arguments are invalid. Release it with share_strip_worker_destroy.
share_strip_worker *share_strip_worker_create(int level, int strategy);

/// Releases a worker; NULL is allowed.
void share_strip_worker_destroy(share_strip_worker *worker);

/// Bytes that are always enough for `out` when compressing `rows` rows of `width` pixels; 0 if that does not fit
/// in a size_t.
size_t share_strip_bound(uint32_t width, uint32_t rows);

/// Filters and compresses `rows` rows of `width` packed RGB pixels, each row `stride` bytes after the previous,
/// into `out` (`capacity` bytes, at least share_strip_bound(width, rows) to never run short).
int share_strip_compress(share_strip_worker *worker, const uint8_t *rgb, size_t stride, uint32_t width,
                         uint32_t rows, int filter, uint8_t *out, size_t capacity, share_strip_result *result);

/// zlib's crc32 of `count` bytes, continuing from `crc` (0 to start).
uint32_t share_strip_crc32(uint32_t crc, const uint8_t *bytes, size_t count);

/// The crc32 of A followed by B from the crc32 of A, the crc32 of B and the length of B.
uint32_t share_strip_crc32_combine(uint32_t crc_a, uint32_t crc_b, size_t length_b);

/// The adler32 of A followed by B from the adler32 of A, the adler32 of B and the length of B.
uint32_t share_strip_adler32_combine(uint32_t adler_a, uint32_t adler_b, size_t length_b);

/// A short description of a SHARE_STRIP_* status, for error messages.
const char *share_strip_describe(int status);

#endif
