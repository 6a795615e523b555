#include "share_strip_png.h"

#include <endian.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The adaptive strategy uses LZ77 (zlib's default strategy) for strips whose filtered bytes are at least this
/// share of zeros and less than the second; run lengths (share's own coder, below) otherwise.
#define SHARE_STRIP_LZ77_MIN_ZEROS 0.80
#define SHARE_STRIP_LZ77_MAX_ZEROS 0.98

_Static_assert(__BYTE_ORDER == __LITTLE_ENDIAN, "the run scan reads bytes as little-endian words");

struct share_strip_worker {
    /// SHARE_STRIP_STRATEGY_DEFAULT, _RLE or _ADAPTIVE.
    int strategy;
    /// zlib's stream for raw deflate with the default strategy (LZ77), set up only when the strategy may use it.
    z_stream lz77;
    int has_lz77;
    /// The strip's filtered rows, each a filter byte and width*3 bytes.
    uint8_t *filtered;
    size_t filtered_capacity;
    /// The run-length coder's symbols for one strip.
    uint16_t *tokens;
    size_t tokens_capacity;
};

static int compress_run_lengths(share_strip_worker *worker, const uint8_t *bytes, size_t count, uint8_t *out,
                                size_t capacity, size_t *written);

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
    return worker;
}

void share_strip_worker_destroy(share_strip_worker *worker) {
    if (!worker) return;
    if (worker->has_lz77) deflateEnd(&worker->lz77);
    free(worker->filtered);
    free(worker->tokens);
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

/// zlib's LZ77 (raw deflate at the worker's level) of the worker's `raw_length` filtered bytes into `out`, ending
/// in a sync flush; the bytes written in `written`.
static int compress_lz77(share_strip_worker *worker, size_t raw_length, uint8_t *out, size_t capacity,
                         size_t *written) {
    z_stream *stream = &worker->lz77;
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
    *written = handed_out - stream->avail_out;
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
    size_t written = 0;
    int status = use_lz77 ? compress_lz77(worker, raw_length, out, capacity, &written)
                          : compress_run_lengths(worker, worker->filtered, raw_length, out, capacity, &written);
    if (status != SHARE_STRIP_OK) return status;
    result->count = written;
    result->adler = adler;
    result->crc = share_strip_crc32(0, out, result->count);
    result->raw_length = raw_length;
    result->strategy = use_lz77 ? SHARE_STRIP_STRATEGY_DEFAULT : SHARE_STRIP_STRATEGY_RLE;
    return SHARE_STRIP_OK;
}

/// Run lengths and literals as deflate symbols, in one block with Huffman codes made for the strip.
///
/// zlib's Z_RLE finds the same matches (a byte repeated: distance 1, lengths 3 to 258), but its general block
/// machinery (tallying, a block every 16 K symbols, bit-by-bit output) costs about 1.2 ms for a 1920x32 strip of
/// a photo here; this coder does the same in a third to a half of that: one pass that turns the filtered bytes
/// into symbols and counts them (sixteen bytes at a time where no run starts), codes built for those counts
/// (lengths limited to 15 bits, as deflate requires), and one pass that writes them with no branches. A strip
/// that would come out larger than its bytes is written as
/// stored blocks instead. Either way it ends like a zlib sync flush: an empty stored block, byte-aligned, not
/// final.

enum {
    LITLEN_SYMBOLS = 286,
    DIST_SYMBOLS = 30,
    CODELEN_SYMBOLS = 19,
    END_OF_BLOCK = 256,
    MAX_CODE_BITS = 15,
    MAX_CODELEN_BITS = 7,
    /// A token is a literal byte (below 256) or a run of MATCH_FLAG | length.
    MATCH_FLAG = 0x8000,
};

/// The length symbol (257 + index) and extra bits of each match length 3-258, per RFC 1951 3.2.5.
static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/// The order in which the code length code's lengths are sent.
static const uint8_t codelen_order[CODELEN_SYMBOLS] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                       11, 4,  12, 3, 13, 2, 14, 1, 15};

/// length_index[length] for lengths 3-258: the index into length_base.
static uint8_t length_index[259];
static pthread_once_t length_index_once = PTHREAD_ONCE_INIT;

static void make_length_index(void) {
    for (int index = 0; index < 29; index++) {
        // Each length belongs to the last base at or below it, so 258 gets a symbol of its own (285), though
        // 227 + 31 extra would also reach it.
        int end = index == 28 ? 259 : length_base[index + 1];
        for (int length = length_base[index]; length < end; length++) length_index[length] = (uint8_t)index;
    }
}

/// Huffman code lengths for `count` symbols with these frequencies, none longer than `limit` bits.
///
/// A Huffman tree built with a binary heap gives the best lengths. When some come out longer than `limit`, the
/// counts of codes per length are brought within it the way zlib does (the overlong codes moved to `limit`, then
/// codes split at shorter lengths until the code is complete again) and handed out again, shortest codes to the
/// most frequent symbols. A single used symbol gets a partner, so every code is complete, as zlib's inflate
/// requires.
static void huffman_lengths(const uint32_t *frequencies, int count, int limit, uint8_t *lengths) {
    uint32_t weight[2 * LITLEN_SYMBOLS];
    int parent[2 * LITLEN_SYMBOLS];
    int heap[LITLEN_SYMBOLS + 1];
    memset(lengths, 0, (size_t)count);
    int used = 0;
    for (int symbol = 0; symbol < count; symbol++) used += frequencies[symbol] != 0;
    if (used == 0) return;
    if (used == 1) {
        int only = 0;
        while (!frequencies[only]) only++;
        lengths[only] = 1;
        lengths[only == 0 ? 1 : 0] = 1;
        return;
    }
    // Leaves are 0..count-1, inner nodes count..; the heap orders nodes by weight, then by index.
#define LIGHTER(a, b) (weight[a] < weight[b] || (weight[a] == weight[b] && (a) < (b)))
    int size = 0;
    for (int symbol = 0; symbol < count; symbol++) {
        if (!frequencies[symbol]) continue;
        weight[symbol] = frequencies[symbol];
        int position = ++size;
        while (position > 1 && LIGHTER(symbol, heap[position / 2])) {
            heap[position] = heap[position / 2];
            position /= 2;
        }
        heap[position] = symbol;
    }
    int next = count;
    while (size > 1) {
        int pair[2];
        for (int k = 0; k < 2; k++) {
            pair[k] = heap[1];
            int last = heap[size--];
            int position = 1;
            for (;;) {
                int child = position * 2;
                if (child > size) break;
                if (child < size && LIGHTER(heap[child + 1], heap[child])) child++;
                if (LIGHTER(last, heap[child])) break;
                heap[position] = heap[child];
                position = child;
            }
            heap[position] = last;
        }
        int node = next++;
        weight[node] = weight[pair[0]] + weight[pair[1]];
        parent[pair[0]] = node;
        parent[pair[1]] = node;
        int position = ++size;
        while (position > 1 && LIGHTER(node, heap[position / 2])) {
            heap[position] = heap[position / 2];
            position /= 2;
        }
        heap[position] = node;
    }
#undef LIGHTER
    // Inner nodes are made after their children, so depths can be filled from the root down.
    uint8_t depth[2 * LITLEN_SYMBOLS];
    depth[next - 1] = 0;
    for (int node = next - 2; node >= count; node--) depth[node] = depth[parent[node]] + 1;
    int deepest = 0;
    for (int symbol = 0; symbol < count; symbol++) {
        if (!frequencies[symbol]) continue;
        lengths[symbol] = depth[parent[symbol]] + 1;
        if (lengths[symbol] > deepest) deepest = lengths[symbol];
    }
    if (deepest <= limit) return;

    // Too deep: how many codes of each length, the overlong ones moved to `limit`.
    uint32_t per_length[64] = {0};
    for (int symbol = 0; symbol < count; symbol++) {
        if (lengths[symbol]) per_length[lengths[symbol] > limit ? limit : lengths[symbol]]++;
    }
    // Kraft's sum in units of 2^-limit is now above 2^limit: take a code from `limit` and split one shorter code
    // into two one bit longer, until it is exactly 2^limit (a complete code).
    uint64_t kraft = 0;
    for (int bits = 1; bits <= limit; bits++) kraft += (uint64_t)per_length[bits] << (limit - bits);
    while (kraft > (uint64_t)1 << limit) {
        per_length[limit]--;
        for (int bits = limit - 1; bits > 0; bits--) {
            if (per_length[bits]) {
                per_length[bits]--;
                per_length[bits + 1] += 2;
                break;
            }
        }
        kraft--;
    }
    // The used symbols from the most to the least frequent (ties: lower symbol first), given the lengths in order.
    int order[LITLEN_SYMBOLS];
    int ordered = 0;
    for (int symbol = 0; symbol < count; symbol++) {
        if (!frequencies[symbol]) continue;
        int position = ordered++;
        while (position > 0 && frequencies[order[position - 1]] < frequencies[symbol]) {
            order[position] = order[position - 1];
            position--;
        }
        order[position] = symbol;
    }
    int bits = 1;
    for (int k = 0; k < ordered; k++) {
        while (!per_length[bits]) bits++;
        per_length[bits]--;
        lengths[order[k]] = (uint8_t)bits;
    }
}

/// Canonical codes for these lengths (RFC 1951 3.2.2), bit-reversed for deflate's least-significant-bit-first
/// order: codes[symbol] = reversed code | length << 16.
static void canonical_codes(const uint8_t *lengths, int count, uint32_t *codes) {
    uint32_t per_length[MAX_CODE_BITS + 1] = {0};
    for (int symbol = 0; symbol < count; symbol++) per_length[lengths[symbol]]++;
    per_length[0] = 0;
    uint32_t next[MAX_CODE_BITS + 2];
    uint32_t code = 0;
    for (int bits = 1; bits <= MAX_CODE_BITS; bits++) {
        code = (code + per_length[bits - 1]) << 1;
        next[bits] = code;
    }
    for (int symbol = 0; symbol < count; symbol++) {
        int length = lengths[symbol];
        if (!length) {
            codes[symbol] = 0;
            continue;
        }
        uint32_t value = next[length]++, reversed = 0;
        for (int bit = 0; bit < length; bit++) reversed |= ((value >> bit) & 1) << (length - 1 - bit);
        codes[symbol] = reversed | (uint32_t)length << 16;
    }
}

/// Bits written least significant first. Every call stores eight bytes and moves on by the whole bytes it
/// filled, so there are no branches; the caller keeps eight bytes of room beyond the end.
typedef struct {
    uint8_t *out;
    size_t position;
    uint64_t bits;
    int pending;
} bit_writer;

static inline void put_bits(bit_writer *writer, uint32_t value, int count) {
    writer->bits |= (uint64_t)value << writer->pending;
    writer->pending += count;
    uint64_t word = writer->bits;
    uint8_t bytes[8] = {(uint8_t)word,         (uint8_t)(word >> 8),  (uint8_t)(word >> 16), (uint8_t)(word >> 24),
                        (uint8_t)(word >> 32), (uint8_t)(word >> 40), (uint8_t)(word >> 48), (uint8_t)(word >> 56)};
    memcpy(writer->out + writer->position, bytes, 8);
    int whole = writer->pending & ~7;
    writer->position += (size_t)(whole >> 3);
    writer->bits >>= whole;  // whole <= 22: pending stays under 8 between calls, and count is at most 15
    writer->pending -= whole;
}

static inline void put_code(bit_writer *writer, uint32_t code) { put_bits(writer, code & 0xFFFF, (int)(code >> 16)); }

/// Writes the pending bits up to the next byte boundary (zero bits fill the last byte).
static void align_to_byte(bit_writer *writer) {
    while (writer->pending > 0) {
        writer->out[writer->position++] = (uint8_t)writer->bits;
        writer->bits >>= 8;
        writer->pending = writer->pending > 8 ? writer->pending - 8 : 0;
    }
    writer->bits = 0;
}

/// The code length code's symbols for one list of code lengths: 0-15 as themselves, 16 (repeat the previous
/// 3-6 times), 17 (3-10 zeros), 18 (11-138 zeros). Each item is symbol | extra value << 8. Returns the count.
static int run_length_code_lengths(const uint8_t *lengths, int count, uint16_t *items) {
    int written = 0;
    int index = 0;
    while (index < count) {
        uint8_t value = lengths[index];
        int run = 1;
        while (index + run < count && lengths[index + run] == value) run++;
        index += run;
        if (value == 0) {
            while (run >= 11) {
                int take = run < 138 ? run : 138;
                items[written++] = (uint16_t)(18 | (take - 11) << 8);
                run -= take;
            }
            if (run >= 3) {
                items[written++] = (uint16_t)(17 | (run - 3) << 8);
                run = 0;
            }
        } else {
            items[written++] = value;
            run--;
            while (run >= 3) {
                int take = run < 6 ? run : 6;
                items[written++] = (uint16_t)(16 | (take - 3) << 8);
                run -= take;
            }
        }
        while (run-- > 0) items[written++] = value;
    }
    return written;
}

static const uint8_t codelen_extra_bits[CODELEN_SYMBOLS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7};

/// Run-length deflate of `count` filtered bytes into `out`; the bytes written in `written`.
static int compress_run_lengths(share_strip_worker *worker, const uint8_t *bytes, size_t count, uint8_t *out,
                                size_t capacity, size_t *written) {
    // Token counts and Huffman weights are 32-bit; a strip is a few hundred kilobytes.
    if (count >= (size_t)1 << 31) return SHARE_STRIP_INVALID_ARGUMENT;
    pthread_once(&length_index_once, make_length_index);
    if (worker->tokens_capacity < count) {
        free(worker->tokens);
        worker->tokens = malloc(count * sizeof *worker->tokens);
        worker->tokens_capacity = worker->tokens ? count : 0;
        if (!worker->tokens) return SHARE_STRIP_OUT_OF_MEMORY;
    }

    // Symbols and their counts. A match repeats the byte before it (distance 1), never reaching before the strip.
    // Literals are counted in four tables, so that neighbouring bytes do not wait on each other's counts.
    uint32_t litlen[LITLEN_SYMBOLS] = {0};
    uint32_t literals[4][256];
    memset(literals, 0, sizeof literals);
    uint32_t dist[DIST_SYMBOLS] = {0};
    uint16_t *tokens = worker->tokens;
    size_t token_count = 0, extra_bits = 0;
    size_t index = 0;
    while (index < count) {
#if defined(__SSE2__)
        // Sixteen bytes at a time: where no run of three repeats of the byte before starts among the first
        // fourteen, they are all literals.
        while (index >= 1 && index + 16 <= count) {
            __m128i here = _mm_loadu_si128((const __m128i *)(bytes + index));
            __m128i before = _mm_loadu_si128((const __m128i *)(bytes + index - 1));
            unsigned same = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(here, before));
            unsigned starts = same & (same >> 1) & (same >> 2) & 0x3FFF;
            int literal_count = starts ? __builtin_ctz(starts) : 14;
            for (int k = 0; k < literal_count; k++) {
                uint8_t byte = bytes[index + k];
                tokens[token_count + k] = byte;
                literals[k & 3][byte]++;
            }
            token_count += literal_count;
            index += literal_count;
            if (starts) break;
        }
        if (index >= count) break;
#endif
        uint8_t byte = bytes[index];
        if (index > 0 && byte == bytes[index - 1] && index + 2 < count && bytes[index + 1] == byte &&
            bytes[index + 2] == byte) {
            size_t limit = count - index < 258 ? count - index : 258;
            size_t run = 3;
            uint64_t pattern = 0x0101010101010101ull * byte;
            while (run + 8 <= limit) {
                uint64_t word;
                memcpy(&word, bytes + index + run, 8);
                uint64_t differ = word ^ pattern;
                if (differ) {
                    // The lowest differing byte is the first in memory on a little-endian machine (x86-64 and
                    // aarch64 Linux, which share runs on).
                    run += (size_t)__builtin_ctzll(differ) / 8;
                    goto counted;
                }
                run += 8;
            }
            while (run < limit && bytes[index + run] == byte) run++;
        counted:;
            int symbol = length_index[run];
            tokens[token_count++] = (uint16_t)(MATCH_FLAG | run);
            litlen[257 + symbol]++;
            extra_bits += length_extra[symbol];
            dist[0]++;
            index += run;
            continue;
        }
        tokens[token_count++] = byte;
        literals[0][byte]++;
        index++;
    }
    for (int byte = 0; byte < 256; byte++)
        litlen[byte] = literals[0][byte] + literals[1][byte] + literals[2][byte] + literals[3][byte];
    litlen[END_OF_BLOCK] = 1;

    uint8_t litlen_lengths[LITLEN_SYMBOLS], dist_lengths[DIST_SYMBOLS];
    huffman_lengths(litlen, LITLEN_SYMBOLS, MAX_CODE_BITS, litlen_lengths);
    // Distance 1 is code 0; codes 0 and 1 of one bit each make a complete code whether or not there are runs.
    uint32_t dist_frequencies[DIST_SYMBOLS] = {dist[0] + 1, 1};
    huffman_lengths(dist_frequencies, DIST_SYMBOLS, MAX_CODE_BITS, dist_lengths);

    int litlen_sent = LITLEN_SYMBOLS;
    while (litlen_sent > 257 && !litlen_lengths[litlen_sent - 1]) litlen_sent--;
    int dist_sent = DIST_SYMBOLS;
    while (dist_sent > 1 && !dist_lengths[dist_sent - 1]) dist_sent--;
    uint16_t items[LITLEN_SYMBOLS + DIST_SYMBOLS];
    int item_count = run_length_code_lengths(litlen_lengths, litlen_sent, items);
    item_count += run_length_code_lengths(dist_lengths, dist_sent, items + item_count);
    uint32_t codelen_frequencies[CODELEN_SYMBOLS] = {0};
    for (int item = 0; item < item_count; item++) codelen_frequencies[items[item] & 0xFF]++;
    uint8_t codelen_lengths[CODELEN_SYMBOLS];
    huffman_lengths(codelen_frequencies, CODELEN_SYMBOLS, MAX_CODELEN_BITS, codelen_lengths);
    int codelen_sent = CODELEN_SYMBOLS;
    while (codelen_sent > 4 && !codelen_lengths[codelen_order[codelen_sent - 1]]) codelen_sent--;

    // The size of the block, to choose between it and stored blocks and to know it fits.
    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)codelen_sent;
    for (int item = 0; item < item_count; item++) {
        int symbol = items[item] & 0xFF;
        bits += codelen_lengths[symbol] + codelen_extra_bits[symbol];
    }
    for (int symbol = 0; symbol < LITLEN_SYMBOLS; symbol++) bits += (uint64_t)litlen[symbol] * litlen_lengths[symbol];
    bits += extra_bits + (uint64_t)dist[0] * dist_lengths[0];
    size_t stored_blocks = count / 65535 + 1;
    // Then the empty stored block of the sync flush: up to 3 + 7 bits and 4 bytes.
    size_t dynamic_size = (size_t)((bits + 7) / 8) + 6;
    size_t stored_size = count + 5 * stored_blocks + 5;
    // put_bits stores eight bytes at a time, so keep eight bytes of room beyond the end.
    if ((dynamic_size < stored_size ? dynamic_size : stored_size) + 8 > capacity) return SHARE_STRIP_OUTPUT_TOO_SMALL;

    bit_writer writer = {out, 0, 0, 0};
    if (dynamic_size < stored_size) {
        uint32_t litlen_codes[LITLEN_SYMBOLS], dist_codes[DIST_SYMBOLS], codelen_codes[CODELEN_SYMBOLS];
        canonical_codes(litlen_lengths, LITLEN_SYMBOLS, litlen_codes);
        canonical_codes(dist_lengths, DIST_SYMBOLS, dist_codes);
        canonical_codes(codelen_lengths, CODELEN_SYMBOLS, codelen_codes);
        put_bits(&writer, 0 | 2 << 1, 3);  // not final, dynamic Huffman codes
        put_bits(&writer, (uint32_t)(litlen_sent - 257), 5);
        put_bits(&writer, (uint32_t)(dist_sent - 1), 5);
        put_bits(&writer, (uint32_t)(codelen_sent - 4), 4);
        for (int k = 0; k < codelen_sent; k++) put_bits(&writer, codelen_lengths[codelen_order[k]], 3);
        for (int item = 0; item < item_count; item++) {
            int symbol = items[item] & 0xFF;
            put_code(&writer, codelen_codes[symbol]);
            if (codelen_extra_bits[symbol]) put_bits(&writer, items[item] >> 8, codelen_extra_bits[symbol]);
        }
        uint32_t distance_one = dist_codes[0];
        for (size_t token = 0; token < token_count; token++) {
            uint16_t value = tokens[token];
            if (value < 256) {
                put_code(&writer, litlen_codes[value]);
                continue;
            }
            int run = value & ~MATCH_FLAG;
            int symbol = length_index[run];
            put_code(&writer, litlen_codes[257 + symbol]);
            if (length_extra[symbol]) put_bits(&writer, (uint32_t)(run - length_base[symbol]), length_extra[symbol]);
            put_code(&writer, distance_one);
        }
        put_code(&writer, litlen_codes[END_OF_BLOCK]);
    } else {
        // Incompressible: stored blocks of up to 65535 bytes.
        size_t offset = 0;
        do {
            size_t length = count - offset < 65535 ? count - offset : 65535;
            put_bits(&writer, 0, 3);
            align_to_byte(&writer);
            uint8_t header[4] = {(uint8_t)length, (uint8_t)(length >> 8), (uint8_t)~length, (uint8_t)(~length >> 8)};
            memcpy(out + writer.position, header, 4);
            memcpy(out + writer.position + 4, bytes + offset, length);
            writer.position += 4 + length;
            offset += length;
        } while (offset < count);
    }
    // The sync flush: an empty stored block, not final, ending on a byte boundary.
    put_bits(&writer, 0, 3);
    align_to_byte(&writer);
    static const uint8_t empty_stored[4] = {0x00, 0x00, 0xFF, 0xFF};
    memcpy(out + writer.position, empty_stored, 4);
    writer.position += 4;
    *written = writer.position;
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
