/// A 64-bit digest of a frame's pixels (or any bytes), used as the strong ETag and to notice an unchanged screen.
///
/// Equal pixels always give equal digests, and the PNG encoder is deterministic, so equal digests mean equal
/// PNG bytes. It reads eight bytes per step with a multiply-rotate mix; it is not cryptographic and needs not be:
/// it tells frames of one screen apart.
package enum FrameDigest {
    /// Digest of the frame's size and pixels: the one its source already made (`Frame.knownDigest`), else one
    /// computed from the pixels.
    package static func digest(of frame: Frame) -> UInt64 {
        if let known = frame.knownDigest { return known }
        return frame.rgb.withUnsafeBytes { digest(of: $0, seed: UInt64(frame.width) << 32 | UInt64(frame.height)) }
    }

    /// Digest of any bytes, such as a static asset.
    package static func digest(of raw: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ seed &* 0x1000_0000_01B3
        do {
            let words = raw.count / 8
            var lanes: (UInt64, UInt64, UInt64, UInt64) = (hash, hash ^ 0xA5A5, hash ^ 0x5A5A, hash ^ 0x3C3C)
            var i = 0
            // Four independent lanes keep the multiplier busy; the tail is folded in after.
            while i + 4 <= words {
                lanes.0 = mix(lanes.0, raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                lanes.1 = mix(lanes.1, raw.loadUnaligned(fromByteOffset: (i + 1) * 8, as: UInt64.self))
                lanes.2 = mix(lanes.2, raw.loadUnaligned(fromByteOffset: (i + 2) * 8, as: UInt64.self))
                lanes.3 = mix(lanes.3, raw.loadUnaligned(fromByteOffset: (i + 3) * 8, as: UInt64.self))
                i += 4
            }
            hash = mix(mix(mix(lanes.0, lanes.1), lanes.2), lanes.3)
            while i < words {
                hash = mix(hash, raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                i += 1
            }
            var tail: UInt64 = 0
            for byte in raw[(words * 8)...] {
                tail = tail << 8 | UInt64(byte)
            }
            hash = mix(hash, tail ^ UInt64(raw.count))
        }
        // Final avalanche (from MurmurHash3's fmix64).
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return hash
    }

    /// Folds a list of digests (such as a frame's band digests) and a seed into one digest.
    package static func combine(_ digests: [UInt64], seed: UInt64) -> UInt64 {
        digests.withUnsafeBytes { digest(of: $0, seed: seed) }
    }

    @inline(__always)
    private static func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
        let product = (hash ^ word) &* 0x9FB2_1C65_1E98_DF25
        return (product << 29 | product >> 35) &+ word
    }
}
