#ifndef SHARE_CPNG_SHIM_H
#define SHARE_CPNG_SHIM_H
// libpng, as Swift sees it. Only the simplified API (png_image_*) is used from Swift; it never longjmps.
#include <png.h>
#endif
