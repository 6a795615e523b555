#ifndef SHARE_CQRENCODE_SHIM_H
#define SHARE_CQRENCODE_SHIM_H
// libqrencode: QR codes for the URL that `share start` prints, so that phones can join by scanning.
#include <qrencode.h>
#endif
