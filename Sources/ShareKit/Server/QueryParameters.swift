import Foundation

/// A request's query string, checked against the keys its path understands.
///
/// Anything that makes no sense is refused with a message that says what is accepted: a key the path does not
/// know, a key given twice, broken percent-encoding, or a value out of range.
struct QueryParameters: Sendable {
    private(set) var values: [String: String] = [:]

    /// `/status?wait=S`: seconds to hold the answer (at most `ShareResponder.longestStatusWait` are used).
    var wait: Double? { values["wait"].flatMap(Double.init) }
    /// `/screen.png?width=N`: a copy at least N pixels wide (see `ScaledFrameStore`).
    var width: Int? { values["width"].flatMap { Int($0) } }
    /// `/?pin=…`: a PIN sent from a link or the PIN page.
    var pin: String? { values["pin"] }

    /// Why a query string was refused.
    struct Problem: Error, Equatable {
        let message: String
    }

    /// Parses `query` (as sent, percent-encoded) for a path that understands `allowed`.
    static func parse(_ query: String?, allowed: Set<String>) -> Result<QueryParameters, Problem> {
        var parsed = QueryParameters()
        guard let query, !query.isEmpty else { return .success(parsed) }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                return .failure(Problem(message: "The query string is not valid percent-encoding.\n"))
            }
            guard allowed.contains(key) else {
                let accepted =
                    allowed.isEmpty
                    ? "This address takes no query parameters."
                    : "It takes: \(allowed.sorted().joined(separator: ", "))."
                return .failure(Problem(message: "Unknown query parameter '\(shown(key))'. \(accepted)\n"))
            }
            guard parsed.values[key] == nil else {
                return .failure(Problem(message: "The query parameter '\(shown(key))' is given twice.\n"))
            }
            if let problem = check(key, value) { return .failure(Problem(message: problem)) }
            parsed.values[key] = value
        }
        return .success(parsed)
    }

    /// The rules for each key's value.
    private static func check(_ key: String, _ value: String) -> String? {
        switch key {
        case "wait":
            guard let seconds = Double(value), seconds.isFinite, seconds >= 0 else {
                return "wait must be a number of seconds from 0 to 30; got '\(shown(value))'.\n"
            }
        case "width":
            // Digits only, so that "+5", " 5" or "0x10" are refused rather than read as numbers.
            guard value.utf8.count <= 6, value.utf8.allSatisfy({ (48...57).contains($0) }), let width = Int(value),
                (1...ScaledFrameStore.widthLimit).contains(width)
            else {
                let widths = ScaledFrameStore.standardWidths.map(String.init).joined(separator: ", ")
                return "width must be a whole number of pixels from 1 to \(ScaledFrameStore.widthLimit); got "
                    + "'\(shown(value))'. The picture is sent at the smallest of \(widths) that is at least that "
                    + "wide, or at full size.\n"
            }
        case "pin":
            guard !value.isEmpty, value.utf8.count <= 64 else {
                return "pin must be 1 to 64 characters long.\n"
            }
        default:
            break
        }
        return nil
    }

    /// Form encoding: `+` is a space, then percent-decoding; nil when the escapes are broken.
    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// A value from the client, made safe and short for a message.
    private static func shown(_ text: String) -> String {
        let printable = ShareListing.printable(text)
        return printable.count > 40 ? String(printable.prefix(40)) + "…" : printable
    }
}
