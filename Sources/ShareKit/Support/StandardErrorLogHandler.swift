public import Logging

/// Writes log lines to stderr exactly as swift-log's `StreamLogHandler` does, but formats the handler's own
/// metadata only when a line is written.
///
/// `StreamLogHandler` formats its metadata every time it is set, and Hummingbird sets a request id on the logger
/// of every request: under full-body load that formatting took 2-3 % of `share start`'s CPU, for lines that are
/// almost never written (request logs are at debug level).
public struct StandardErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// - Parameter metadataProvider: by default the one bootstrapped, as `StreamLogHandler.standardError` takes.
    public init(
        label: String,
        logLevel: Logger.Level,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var stream = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        stream.logLevel = logLevel
        stream.metadata = metadata
        stream.log(event: event)
    }
}
