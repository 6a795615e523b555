#ifndef SHARE_CAVAHI_SHIM_H
#define SHARE_CAVAHI_SHIM_H

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>

// AVAHI_IF_UNSPEC and AVAHI_PROTO_UNSPEC are enum constants of type int that Swift imports with another type
// than the AvahiIfIndex / AvahiProtocol parameters want; these give them the parameter types.

/// AVAHI_IF_UNSPEC as an AvahiIfIndex.
static inline AvahiIfIndex share_avahi_if_unspec(void) { return AVAHI_IF_UNSPEC; }

/// AVAHI_PROTO_UNSPEC as an AvahiProtocol.
static inline AvahiProtocol share_avahi_proto_unspec(void) { return AVAHI_PROTO_UNSPEC; }

/// AVAHI_PROTO_INET as an AvahiProtocol.
static inline AvahiProtocol share_avahi_proto_inet(void) { return AVAHI_PROTO_INET; }

#endif
