import Concord
import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and the work
/// is long enough to be worth it.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let lock = NSLock()
    private var drawn = false
    private var lastPercent = -1
    private let enabled: Bool

    /// Bars start for more than this many bytes or bundles.
    static let minimumBytes = 4 << 20
    static let minimumBundles = 500

    init(_ label: String) {
        self.label = label
        enabled = isatty(STDERR_FILENO) == 1
    }

    /// A progress callback, or `nil` when stderr is not a terminal.
    var callback: (@Sendable (ImportProgress) -> Void)? {
        guard enabled else { return nil }
        return { @Sendable [self] progress in self.update(progress) }
    }

    func update(_ progress: ImportProgress) {
        lock.lock()
        defer { lock.unlock() }
        let big = (progress.bytesTotal ?? 0) > Self.minimumBytes || (progress.bundlesTotal ?? 0) > Self.minimumBundles
        guard big || drawn else { return }
        let fraction: Double
        if let f = progress.fractionDone {
            fraction = f
        } else if let total = progress.bundlesTotal, total > 0 {
            fraction = Double(progress.bundlesDone) / Double(total)
        } else {
            return
        }
        draw(fraction: fraction, text: "\(progress.bundlesDone)/\(progress.bundlesTotal.map(String.init) ?? "?") bundles")
    }

    /// Progress of other work counted in `unit`s (records): drawn when `total` exceeds
    /// ``minimumBundles`` and stderr is a terminal.
    func update(done: Int, total: Int, unit: String) {
        lock.lock()
        defer { lock.unlock() }
        guard enabled, total > Self.minimumBundles || drawn, total > 0 else { return }
        draw(fraction: Double(done) / Double(total), text: "\(done)/\(total) \(unit)")
    }

    /// Draws the bar when the whole percentage changed; the caller holds the lock.
    private func draw(fraction: Double, text: String) {
        let percent = Int((min(1, fraction) * 100).rounded(.down))
        guard percent != lastPercent else { return }
        lastPercent = percent
        drawn = true
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)% \(text)".utf8))
    }

    /// Ends the bar's line, if one was drawn.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
