#ifndef SHARE_CX11_SHIM_H
#define SHARE_CX11_SHIM_H

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/Xrandr.h>
#include <sys/ipc.h>
#include <sys/shm.h>

// Xlib's function-like macros are invisible to Swift; each wrapper below names the macro it stands for.

/// DefaultScreen(display)
static inline int share_DefaultScreen(Display *display) { return DefaultScreen(display); }

/// RootWindow(display, screen)
static inline Window share_RootWindow(Display *display, int screen) { return RootWindow(display, screen); }

/// DefaultVisual(display, screen)
static inline Visual *share_DefaultVisual(Display *display, int screen) { return DefaultVisual(display, screen); }

/// DefaultDepth(display, screen)
static inline int share_DefaultDepth(Display *display, int screen) { return DefaultDepth(display, screen); }

/// DisplayWidth(display, screen)
static inline int share_DisplayWidth(Display *display, int screen) { return DisplayWidth(display, screen); }

/// DisplayHeight(display, screen)
static inline int share_DisplayHeight(Display *display, int screen) { return DisplayHeight(display, screen); }

/// DefaultGC(display, screen)
static inline GC share_DefaultGC(Display *display, int screen) { return DefaultGC(display, screen); }

/// XDestroyImage(image): a macro calling through the image's function table.
static inline int share_XDestroyImage(XImage *image) { return XDestroyImage(image); }

/// AllPlanes: a macro for ~0UL, which Swift imports badly.
static inline unsigned long share_AllPlanes(void) { return AllPlanes; }

#endif
