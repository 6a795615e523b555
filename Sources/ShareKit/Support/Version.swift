/// The version of share, printed by `share --version` and sent in the Server header.
public enum ShareVersion {
    /// The release this build belongs to.
    public static let current = "0.1.0"
}
