import CloudModel
import Foundation

/// What one live migration of an SR-IOV InfiniBand VM costs (`Hardware/migration.yaml`):
/// pre-copy of its memory over the migration link, a stop-and-copy downtime that
/// includes detaching and re-attaching the VF, and the InfiniBand addressing work
/// that depends on the HCA's SR-IOV mode.
public struct MigrationModel: Sendable {
    /// The longest stop-and-copy pre-copy aims for (QEMU's default downtime limit).
    public var maxDowntimeSeconds: Parameter
    /// The migration stream's rate limit (QEMU's default throttle), bytes per second.
    public var bandwidthCapBytesPerSecond: Parameter
    /// Pre-copy rounds before stop-and-copy is forced.
    public var maxRounds: Parameter
    /// Hot-unplug of the VF in the source guest plus hot-plug at the destination.
    public var vfDetachAttachSeconds: Parameter
    /// One subnet management packet to a switch (an LFT block) or a port, round trip.
    public var smpSeconds: Parameter
    /// One subnet administration path query by a peer whose path to the VM changed.
    public var pathQuerySeconds: Parameter
    /// How fast a running HPC VM dirties memory during pre-copy (a scenario may set its own).
    public var dirtyMiBPerSecond: Parameter
    public let file: String

    public struct Cost: Equatable, Sendable {
        /// From the start of pre-copy to the VM running at the destination, addressing done.
        /// The VF is detached all along: QEMU refuses to migrate a VFIO device whose driver
        /// cannot (hw/vfio/migration.c, `vfio_migration_realize` adds a migration blocker),
        /// so the VF is hot-unplugged first and the VM has no InfiniBand until re-attached.
        public var totalSeconds: Double
        /// The VM stopped: last copy, VF detach and attach, addressing.
        public var downtimeSeconds: Double
        public var bytesMoved: Double
        public var rounds: Int
        /// SMPs the subnet manager sends (LFT blocks, a VF's LID).
        public var smps: Int
        /// Path queries the VM's peers make (shared port: its LID changed).
        public var pathQueries: Int
        /// False when the dirty rate kept up with the link: stop-and-copy was forced.
        public var converged: Bool
    }

    /// The cost of moving a VM of `memoryMiB` that dirties `dirtyMiBPerSecond`, over a
    /// link of `linkGbps`, on HCAs in `mode`, with `switches` switches whose forwarding
    /// tables hold the VM's LID and `peers` VMs talking to it.
    ///
    /// Pre-copy (Clark et al., NSDI 2005): round 0 sends all memory, each later round
    /// what was dirtied during the previous one, until the rest fits the downtime
    /// limit, the rounds run out, or a round would not shrink. Addressing by mode:
    /// - shared port: the VM takes the destination PF's LID; every peer queries a new
    ///   path (one SA query per communicating peer, Tasoulas et al., CCGrid 2015);
    /// - vSwitch, prepopulated LIDs: the LID moves with the VM; the subnet manager
    ///   rewrites one 64-LID forwarding block per switch (OpenSM `set_lft_block`);
    /// - vSwitch, dynamic LIDs: as prepopulated, plus the destination VF's LID set (one SMP).
    /// - Complexity: O(maxRounds).
    /// A VM without a VF (`withVF` false, a common VM) has no VF to move and no InfiniBand address.
    public func cost(memoryMiB: Int64, dirtyMiBPerSecond: Double, linkGbps: Double, mode: SRIOVMode,
                     switches: Int, peers: Int, withVF: Bool = true) -> Cost {
        let rate = min(linkGbps * 1e9 / 8, bandwidthCapBytesPerSecond.value)
        let dirty = dirtyMiBPerSecond * 1_048_576
        var remaining = Double(memoryMiB) * 1_048_576
        var moved = 0.0, time = 0.0, rounds = 0
        var converged = true
        let budget = rate * maxDowntimeSeconds.value
        while remaining > budget {
            guard rounds < Int(maxRounds.value) else { converged = false; break }
            let seconds = remaining / rate
            let next = dirty * seconds
            guard next < remaining else { converged = false; break }
            moved += remaining
            time += seconds
            remaining = next
            rounds += 1
        }
        var smps = 0, queries = 0
        switch mode {
        case _ where !withVF: break
        case .sharedPort: queries = peers
        case .vswitchPrepopulated: smps = switches
        case .vswitchDynamic: smps = switches + 1
        }
        let addressing = Double(smps) * smpSeconds.value + Double(queries) * pathQuerySeconds.value
        let downtime = remaining / rate + (withVF ? vfDetachAttachSeconds.value : 0) + addressing
        return Cost(totalSeconds: time + downtime, downtimeSeconds: downtime, bytesMoved: moved + remaining, rounds: rounds,
                    smps: smps, pathQueries: queries, converged: converged)
    }
}

extension MigrationModel {
    /// Reads `Hardware/migration.yaml`, validating every key.
    public static func load(path: String) throws -> MigrationModel {
        try parse(yaml: try readText(path), file: path)
    }

    public static func parse(yaml: String, file: String) throws -> MigrationModel {
        // The parameters' shape is overheads.yaml's: { value, kind, source, band }.
        let map = try YAMLValue.parse(yaml, file: file).mapping(allowed: [
            "maxDowntimeSeconds", "bandwidthCapBytesPerSecond", "maxRounds", "vfDetachAttachSeconds", "smpSeconds", "pathQuerySeconds",
            "dirtyMiBPerSecond",
        ])
        func value(_ key: String, atLeast low: Double, atMost high: Double) throws -> Parameter {
            try OverheadModel.parameter(try map.required(key), atLeast: low, atMost: high)
        }
        let maxRounds = try value("maxRounds", atLeast: 0, atMost: 10_000)
        guard maxRounds.value.rounded() == maxRounds.value else { throw try map.required("maxRounds").error("expected a whole number of rounds") }
        return MigrationModel(maxDowntimeSeconds: try value("maxDowntimeSeconds", atLeast: 1e-6, atMost: 3600),
                              bandwidthCapBytesPerSecond: try value("bandwidthCapBytesPerSecond", atLeast: 1, atMost: 1e13),
                              maxRounds: maxRounds,
                              vfDetachAttachSeconds: try value("vfDetachAttachSeconds", atLeast: 0, atMost: 3600),
                              smpSeconds: try value("smpSeconds", atLeast: 0, atMost: 60),
                              pathQuerySeconds: try value("pathQuerySeconds", atLeast: 0, atMost: 60),
                              dirtyMiBPerSecond: try value("dirtyMiBPerSecond", atLeast: 0, atMost: 1e7),
                              file: file)
    }
}
