import ArgumentParser

/// `--timeout`, shared by the commands that browse the network.
struct BrowseOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Give up browsing after this many seconds.", valueName: "seconds"))
    var timeout: Double = 3

    func validate() throws {
        guard timeout > 0, timeout <= 600 else {
            throw ValidationError("--timeout must be more than 0 and at most 600 seconds; got \(timeout).")
        }
    }

    /// The timeout as a duration.
    var duration: Duration { .milliseconds(Int64(timeout * 1000)) }
}
