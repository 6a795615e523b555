/// `--pin` takes an optional value, which argument-parser has no option kind for: `--pin` alone means "make a
/// random PIN", `--pin 4711` means "use 4711". Before parsing, a `--pin` that is last or followed by another
/// option becomes the hidden flag `--generate-pin`; every other form is left to argument-parser. Only
/// `share start` has `--pin`: other commands' arguments are left alone, so that their errors name `--pin`.
enum PINArgument {
    static let option = "--pin"
    static let generateFlag = "generate-pin"

    static func rewrite(_ arguments: [String]) -> [String] {
        guard arguments.first == "start" else { return arguments }
        var rewritten: [String] = []
        rewritten.reserveCapacity(arguments.count)
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                // Everything after "--" is a value, never an option.
                rewritten.append(contentsOf: arguments[index...])
                break
            }
            if argument == option {
                let next = arguments.index(after: index)
                if next == arguments.endIndex || arguments[next].hasPrefix("-") {
                    rewritten.append("--" + generateFlag)
                    index = next
                    continue
                }
                // "--pin VALUE": keep both as they are.
                rewritten.append(argument)
                rewritten.append(arguments[next])
                index = arguments.index(after: next)
                continue
            }
            rewritten.append(argument)
            index = arguments.index(after: index)
        }
        return rewritten
    }
}
