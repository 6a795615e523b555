#include "share_strip_png.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The adaptive strategy uses LZ77 (zlib's default strategy) for strips whose filtered bytes are at least this
/// share of zeros and less than the second; run lengths (Z_RLE) otherwise.
#define SHARE_STRIP_LZ77_MIN_ZEROS 0.80
#define SHARE_STRIP_LZ77_MAX_ZEROS 0.98

struct share_strip_worker {
    /// SHARE_STRIP_STRATEGY_DEFAULT, _RLE or _ADAPTIVE.
    int strategy;
    /// zlib streams for raw deflate with the default strategy (LZ77) and with Z_RLE; each is set up only when the
    /// strategy may use it.
    z_stream lz77;
    z_stream run_length;
    int has_lz77;
    int has_run_length;
    /// The strip's filtered rows, each a filter byte and width*3 bytes.
    uint8_t *filtered;
    size_t filtered_capacity;
};

share_strip_worker *share_strip_worker_create(int level, int strategy) {
    if (level < 1 || level > 9) return NULL;
    if (strategy != SHARE_STRIP_STRATEGY_DEFAULT && strategy != SHARE_STRIP_STRATEGY_RLE &&
        strategy != SHARE_STRIP_STRATEGY_ADAPTIVE)
        return NULL;
    share_strip_worker *worker = calloc(1, sizeof *worker);
    if (!worker) return NULL;
    worker->strategy = strategy;
    // Raw deflate (negative window bits): the PNG's zlib header and adler32 are written around the strips.
    if (strategy != SHARE_STRIP_STRATEGY_RLE) {
        worker->has_lz77 = deflateInit2(&worker->lz77, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
        if (!worker->has_lz77) {
            share_strip_worker_destroy(worker);
            return NULL;
        }
    }
    if (strategy != SHARE_STRIP_STRATEGY_DEFAULT) {
        worker->has_run_length = deflateInit2(&worker->run_length, level, Z_DEFLATED, -15, 8, Z_RLE) == Z_OK;
        if (!worker->has_run_length) {
            share_strip_worker_destroy(worker);
            return NULL;
        }
    }
    return worker;
}

void share_strip_worker_destroy(share_strip_worker *worker) {
    if (!worker) return;
    if (worker->has_lz77) deflateEnd(&worker->lz77);
    if (worker->has_run_length) deflateEnd(&worker->run_length);
    free(worker->filtered);
    free(worker);
}

size_t share_strip_bound(uint32_t width, uint32_t rows) {
    size_t row_bytes = (size_t)width * 3 + 1;
    if (rows && row_bytes > SIZE_MAX / rows) return 0;
    size_t raw = row_bytes * rows;
    // zlib's most conservative deflateBound (stored blocks in the worst case), plus the sync flush's empty
    // stored block and slack.
    if (raw > (SIZE_MAX - 1024) / 2) return 0;
    return raw + raw / 8 + raw / 64 + 1024;
}

static void filter_sub(uint8_t *out, const uint8_t *row, size_t count) {
    size_t i = 0;
    for (; i < 3 && i < count; i++) out[i] = row[i];
    for (; i < count; i++) out[i] = (uint8_t)(row[i] - row[i - 3]);
}

static void filter_up(uint8_t *out, const uint8_t *row, const uint8_t *prior, size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = (uint8_t)(row[i] - prior[i]);
}

static inline uint8_t paeth_predictor(int a, int b, int c) {
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

#if defined(__SSE2__)
static inline __m128i abs_epi16(__m128i x) { return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x)); }

/// The Paeth predictor of eight 16-bit lanes: a (left), b (up), c (up-left).
static inline __m128i paeth_epi16(__m128i a, __m128i b, __m128i c) {
    __m128i pa = _mm_sub_epi16(b, c);
    __m128i pb = _mm_sub_epi16(a, c);
    __m128i pc = abs_epi16(_mm_add_epi16(pa, pb));
    pa = abs_epi16(pa);
    pb = abs_epi16(pb);
    __m128i smallest = _mm_min_epi16(_mm_min_epi16(pa, pb), pc);
    // a when pa is the smallest; else b when pb is; else c (the PNG specification's order for ties).
    __m128i use_a = _mm_cmpeq_epi16(pa, smallest);
    __m128i use_b = _mm_cmpeq_epi16(pb, smallest);
    __m128i b_or_c = _mm_or_si128(_mm_and_si128(use_b, b), _mm_andnot_si128(use_b, c));
    return _mm_or_si128(_mm_and_si128(use_a, a), _mm_andnot_si128(use_a, b_or_c));
}
#endif

static void filter_paeth(uint8_t *out, const uint8_t *row, const uint8_t *prior, size_t count) {
    size_t i = 0;
    // The first pixel has no left neighbours: the predictor is then the byte above.
    for (; i < 3 && i < count; i++) out[i] = (uint8_t)(row[i] - prior[i]);
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    for (; i + 16 <= count; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(row + i - 3));
        __m128i b = _mm_loadu_si128((const __m128i *)(prior + i));
        __m128i c = _mm_loadu_si128((const __m128i *)(prior + i - 3));
        __m128i x = _mm_loadu_si128((const __m128i *)(row + i));
        __m128i low = paeth_epi16(_mm_unpacklo_epi8(a, zero), _mm_unpacklo_epi8(b, zero), _mm_unpacklo_epi8(c, zero));
        __m128i high = paeth_epi16(_mm_unpackhi_epi8(a, zero), _mm_unpackhi_epi8(b, zero), _mm_unpackhi_epi8(c, zero));
        _mm_storeu_si128((__m128i *)(out + i), _mm_sub_epi8(x, _mm_packus_epi16(low, high)));
    }
#endif
    for (; i < count; i++) out[i] = (uint8_t)(row[i] - paeth_predictor(row[i - 3], prior[i], prior[i - 3]));
}

/// zlib's adler32 of `count` bytes continuing from `adler`, also adding the number of zero bytes to `zeros`.
///
/// adler32 is s1 = 1 + the sum of the bytes and s2 = the sum of the successive s1, both modulo 65521. Over a
/// block of 16 bytes d[0..15], s2 grows by 16 * s1 (as it was before the block) + sum((16 - i) * d[i]), and s1 by
/// sum(d[i]); up to 5552 bytes (zlib's NMAX) add up without overflowing 32 bits before the modulo.
static uint32_t adler32_counting_zeros(uint32_t adler, const uint8_t *bytes, size_t count, size_t *zeros) {
    const uint32_t base = 65521;
    const size_t nmax = 5552;
    uint32_t s1 = adler & 0xFFFF, s2 = adler >> 16;
    size_t zero_count = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    const __m128i weights_low = _mm_setr_epi16(16, 15, 14, 13, 12, 11, 10, 9);
    const __m128i weights_high = _mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1);
    while (count >= 16) {
        size_t blocks = (count < nmax ? count : nmax) / 16;
        count -= blocks * 16;
        __m128i sums = zero;     // sum of the bytes so far (in the two 64-bit halves)
        __m128i prefixes = zero; // sum over blocks of `sums` before the block
        __m128i weighted = zero; // sum of (16 - i) * d[i], in four 32-bit lanes
        __m128i zeros_seen = zero;
        for (size_t block = 0; block < blocks; block++) {
            __m128i data = _mm_loadu_si128((const __m128i *)bytes);
            bytes += 16;
            prefixes = _mm_add_epi32(prefixes, sums);
            sums = _mm_add_epi32(sums, _mm_sad_epu8(data, zero));
            __m128i low = _mm_madd_epi16(_mm_unpacklo_epi8(data, zero), weights_low);
            __m128i high = _mm_madd_epi16(_mm_unpackhi_epi8(data, zero), weights_high);
            weighted = _mm_add_epi32(weighted, _mm_add_epi32(low, high));
            zeros_seen = _mm_add_epi64(zeros_seen, _mm_sad_epu8(_mm_sub_epi8(zero, _mm_cmpeq_epi8(data, zero)), zero));
        }
        uint32_t lanes[4];
        _mm_storeu_si128((__m128i *)lanes, sums);
        uint64_t block_sum = (uint64_t)lanes[0] + lanes[2];
        _mm_storeu_si128((__m128i *)lanes, prefixes);
        uint64_t prefix_sum = (uint64_t)lanes[0] + lanes[2];
        _mm_storeu_si128((__m128i *)lanes, weighted);
        uint64_t weighted_sum = (uint64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
        _mm_storeu_si128((__m128i *)lanes, zeros_seen);
        zero_count += (size_t)lanes[0] + lanes[2];
        s2 = (uint32_t)((s2 + 16 * ((uint64_t)s1 * blocks + prefix_sum) + weighted_sum) % base);
        s1 = (uint32_t)((s1 + block_sum) % base);
    }
#endif
    while (count > 0) {
        size_t chunk = count < nmax ? count : nmax;
        count -= chunk;
        while (chunk-- > 0) {
            zero_count += *bytes == 0;
            s1 += *bytes++;
            s2 += s1;
        }
        s1 %= base;
        s2 %= base;
    }
    *zeros += zero_count;
    return s2 << 16 | s1;
}

/// Gives the stream the next piece of `out` when it has filled the previous one.
static int refill_output(z_stream *stream, size_t capacity, size_t *handed_out) {
    if (stream->avail_out > 0) return SHARE_STRIP_OK;
    if (*handed_out >= capacity) return SHARE_STRIP_OUTPUT_TOO_SMALL;
    size_t left = capacity - *handed_out;
    uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
    stream->avail_out = chunk;
    *handed_out += chunk;
    return SHARE_STRIP_OK;
}

int share_strip_compress(share_strip_worker *worker, const uint8_t *rgb, size_t stride, uint32_t width,
                         uint32_t rows, int filter, uint8_t *out, size_t capacity, share_strip_result *result) {
    if (!worker || !rgb || !out || !result || width == 0 || rows == 0) return SHARE_STRIP_INVALID_ARGUMENT;
    if (filter != SHARE_STRIP_FILTER_UP && filter != SHARE_STRIP_FILTER_PAETH) return SHARE_STRIP_INVALID_ARGUMENT;
    size_t count = (size_t)width * 3;
    if (stride < count || count + 1 > UINT_MAX || rows > SIZE_MAX / (count + 1)) return SHARE_STRIP_INVALID_ARGUMENT;
    size_t raw_length = (count + 1) * rows;
    memset(result, 0, sizeof *result);
    if (worker->filtered_capacity < raw_length) {
        free(worker->filtered);
        worker->filtered = malloc(raw_length);
        worker->filtered_capacity = worker->filtered ? raw_length : 0;
        if (!worker->filtered) return SHARE_STRIP_OUT_OF_MEMORY;
    }

    // Filter every row, taking the adler32 and counting zero bytes while the row is still in the cache.
    uint32_t adler = 1;
    size_t zeros = 0;
    int adaptive = worker->strategy == SHARE_STRIP_STRATEGY_ADAPTIVE;
    for (uint32_t y = 0; y < rows; y++) {
        const uint8_t *row = rgb + (size_t)y * stride;
        uint8_t *filtered = worker->filtered + (size_t)y * (count + 1);
        if (y == 0) {
            // The strip's first row never looks at the row above, so the strip compresses on its own.
            filtered[0] = 1;
            filter_sub(filtered + 1, row, count);
        } else if (filter == SHARE_STRIP_FILTER_UP) {
            filtered[0] = 2;
            filter_up(filtered + 1, row, row - stride, count);
        } else {
            filtered[0] = 4;
            filter_paeth(filtered + 1, row, row - stride, count);
        }
        adler = adler32_counting_zeros(adler, filtered, count + 1, &zeros);
    }

    // Adaptive: text and user interface (mostly zeros after filtering, but not flat) repeat shapes that only
    // LZ77 matching finds; photos, gradients and flat areas compress as well or better with run lengths, and
    // much faster.
    int use_lz77 = worker->strategy == SHARE_STRIP_STRATEGY_DEFAULT;
    if (adaptive) {
        double share = (double)zeros / (double)raw_length;
        use_lz77 = share >= SHARE_STRIP_LZ77_MIN_ZEROS && share < SHARE_STRIP_LZ77_MAX_ZEROS;
    }
    z_stream *stream = use_lz77 ? &worker->lz77 : &worker->run_length;
    if (deflateReset(stream) != Z_OK) return SHARE_STRIP_ZLIB_FAILED;
    size_t handed_out = 0;
    stream->next_out = out;
    stream->avail_out = 0;
    const uint8_t *next = worker->filtered;
    size_t left = raw_length;
    while (left > 0) {
        uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
        stream->next_in = (Bytef *)next;
        stream->avail_in = chunk;
        while (stream->avail_in > 0) {
            int status = refill_output(stream, capacity, &handed_out);
            if (status != SHARE_STRIP_OK) return status;
            if (deflate(stream, Z_NO_FLUSH) != Z_OK) return SHARE_STRIP_ZLIB_FAILED;
        }
        next += chunk;
        left -= chunk;
    }
    // A sync flush ends the strip on a byte boundary with nothing pending, without marking the last block final.
    for (;;) {
        int status = refill_output(stream, capacity, &handed_out);
        if (status != SHARE_STRIP_OK) return status;
        status = deflate(stream, Z_SYNC_FLUSH);
        if (status != Z_OK && status != Z_BUF_ERROR) return SHARE_STRIP_ZLIB_FAILED;
        if (stream->avail_out > 0) break;
    }
    result->count = handed_out - stream->avail_out;
    result->adler = adler;
    result->crc = share_strip_crc32(0, out, result->count);
    result->raw_length = raw_length;
    result->strategy = use_lz77 ? SHARE_STRIP_STRATEGY_DEFAULT : SHARE_STRIP_STRATEGY_RLE;
    return SHARE_STRIP_OK;
}

uint32_t share_strip_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    uLong value = crc;
    while (count > 0) {
        uInt chunk = count > UINT_MAX ? UINT_MAX : (uInt)count;
        value = crc32(value, bytes, chunk);
        bytes += chunk;
        count -= chunk;
    }
    return (uint32_t)value;
}

uint32_t share_strip_crc32_combine(uint32_t crc_a, uint32_t crc_b, size_t length_b) {
    return (uint32_t)crc32_combine(crc_a, crc_b, (z_off_t)length_b);
}

uint32_t share_strip_adler32_combine(uint32_t adler_a, uint32_t adler_b, size_t length_b) {
    return (uint32_t)adler32_combine(adler_a, adler_b, (z_off_t)length_b);
}

const char *share_strip_describe(int status) {
    switch (status) {
    case SHARE_STRIP_OK: return "no error";
    case SHARE_STRIP_INVALID_ARGUMENT: return "invalid arguments to the strip compressor";
    case SHARE_STRIP_OUT_OF_MEMORY: return "out of memory";
    case SHARE_STRIP_OUTPUT_TOO_SMALL: return "the compressed strip did not fit its buffer";
    case SHARE_STRIP_ZLIB_FAILED: return "zlib failed";
    default: return "unknown error";
    }
}
