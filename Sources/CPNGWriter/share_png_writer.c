#include "share_png_writer.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef struct {
    share_png_buffer *out;
    char *error;
    size_t error_capacity;
    int out_of_memory;
} writer_state;

static void on_error(png_structp png, png_const_charp message) {
    writer_state *state = png_get_error_ptr(png);
    if (state->error && state->error_capacity > 0) {
        snprintf(state->error, state->error_capacity, "%s", message);
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void on_write(png_structp png, png_bytep data, png_size_t length) {
    writer_state *state = png_get_io_ptr(png);
    share_png_buffer *out = state->out;
    if (out->count + length > out->capacity) {
        size_t capacity = out->capacity ? out->capacity : 64 * 1024;
        while (capacity < out->count + length) capacity *= 2;
        uint8_t *bytes = realloc(out->bytes, capacity);
        if (!bytes) {
            state->out_of_memory = 1;
            png_error(png, "out of memory while writing the PNG");
        }
        out->bytes = bytes;
        out->capacity = capacity;
    }
    memcpy(out->bytes + out->count, data, length);
    out->count += length;
}

static void on_flush(png_structp png) { (void)png; }

int share_png_encode_rgb(const uint8_t *rgb, uint32_t width, uint32_t height, size_t stride, int level, int filters,
                         share_png_buffer *out, char *error, size_t error_capacity) {
    memset(out, 0, sizeof *out);
    if (error && error_capacity) error[0] = 0;
    if (width == 0 || height == 0) {
        if (error && error_capacity) snprintf(error, error_capacity, "an image needs at least one pixel");
        return 1;
    }
    // Everything that must survive a longjmp lives in memory that is not a register-held local.
    writer_state state = {out, error, error_capacity, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
    if (!png) {
        if (error && error_capacity) snprintf(error, error_capacity, "libpng could not start (out of memory)");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        if (error && error_capacity) snprintf(error, error_capacity, "libpng could not start (out of memory)");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        share_png_buffer_free(out);
        return 2;
    }
    png_set_write_fn(png, &state, on_write, on_flush);
    png_set_compression_level(png, level);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * stride));
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

void share_png_buffer_free(share_png_buffer *buffer) {
    free(buffer->bytes);
    buffer->bytes = NULL;
    buffer->count = 0;
    buffer->capacity = 0;
}
