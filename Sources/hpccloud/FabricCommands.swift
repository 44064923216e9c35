import ArgumentParser
import CloudModel
import ConnectX
import Foundation

struct Fabric: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at the InfiniBand hardware of this host.",
        subcommands: [Discover.self])

    struct Discover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the HCAs (libibverbs and sysfs), map them to Hardware profiles, and print a scenario hosts: entry.",
            discussion: """
            Through libibverbs: devices, firmware, node and system GUIDs, ports with state, LID,
            SM LID, rate and pkey table. Through sysfs: PCI address, driver (mlx4/mlx5),
            sriov_totalvfs and sriov_numvfs, and the VFs present. With --sysfs-root DIR only the
            tree under DIR is read (a copy of a host's /sys, or a test's). With no RDMA device
            it says so in one line and exits 2.
            """)

        @Option(name: .customLong("sysfs-root"), help: ArgumentHelp("Read sysfs under DIR instead of asking libibverbs and /sys.", valueName: "DIR"))
        var sysfsRoot: String?

        @OptionGroup var hardware: HardwareOptions

        func run() throws {
            try reportingInputErrors {
                let fromSysfs = try SysfsDiscovery(sysfs: DirectorySysfs(root: sysfsRoot ?? "/")).devices()
                let devices = sysfsRoot == nil ? VerbsDiscovery.merge(VerbsDiscovery.devices(), fromSysfs) : fromSysfs
                guard !devices.isEmpty else {
                    throw InputError(file: sysfsRoot.map { $0 + "/sys/class/infiniband" } ?? "libibverbs",
                                     message: "no RDMA devices found")
                }
                let catalog = try hardware.catalog(scenarioPath: nil)
                let memoryGiB = Int(ProcessInfo.processInfo.physicalMemory >> 30)
                print(Inventory.format(devices, profiles: devices.map { $0.profile(in: catalog)?.name },
                                       cores: ProcessInfo.processInfo.activeProcessorCount, memoryGiB: memoryGiB))
            }
        }
    }
}
