import Foundation

/// The engine as the records said at one generation, kept between commands
/// so a command costs its own VMs, not every recorded cluster (the controller
/// serves many commands a second against the same records).
///
/// The generation (`OperatorState.generation`) is counted by SQLite triggers
/// on every change to the clusters, VMs and inventory, by any process: a
/// cached engine whose generation is not the one a transaction reads is never
/// used. The site's partition statements, read from the subnet manager's
/// file, are part of the key.
final class LoadedCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entry: (site: [PartitionStatement], loaded: Operator.Loaded)?
    /// Engines built from the records, for a metric and for tests (a command that finds its engine cached builds none).
    private var rebuildCount = 0

    var rebuilds: Int { lock.withLock { rebuildCount } }
    func countRebuild() { lock.withLock { rebuildCount += 1 } }

    /// The cached engine itself, for a command that changes it: the cache is
    /// empty until the command's `keep` stores it back on commit.
    func take(generation: Int64, site: [PartitionStatement]) -> Operator.Loaded? {
        lock.withLock {
            guard let entry, entry.loaded.generation == generation, entry.site == site else { return nil }
            self.entry = nil
            return entry.loaded
        }
    }

    /// A copy for a reader (O(1): copy-on-write).
    func copy(generation: Int64, site: [PartitionStatement]) -> Operator.Loaded? {
        lock.withLock {
            guard let entry, entry.loaded.generation == generation, entry.site == site else { return nil }
            return entry.loaded.copy()
        }
    }

    private var site: (text: String?, statements: [PartitionStatement])?

    /// The site's statements in the subnet manager's file `text`, parsed once per distinct text.
    func siteStatements(_ text: String?) throws -> [PartitionStatement] {
        if let site = lock.withLock({ site }), site.text == text { return site.statements }
        let statements = PartitionsConfig.parse(try PartitionsConfig(text: text).siteText)
        lock.withLock { site = (text, statements) }
        return statements
    }

    /// The hosts as cached, when the records are still at `generation`.
    func hosts(generation: Int64) -> [HostEntry]? {
        lock.withLock { entry?.loaded.generation == generation ? entry?.loaded.hosts : nil }
    }

    /// Keeps `loaded` unless a newer generation is cached; nobody else may change it from now on.
    func store(_ loaded: Operator.Loaded, site: [PartitionStatement]) {
        lock.withLock {
            if let entry, entry.loaded.generation > loaded.generation { return }
            entry = (site, loaded)
        }
    }
}

/// A loaded engine on its way to the cache from a transaction's commit hook.
struct CachedLoaded: @unchecked Sendable {
    let loaded: Operator.Loaded
}
