import ConnectX
import ControlAgent
import ControlPlane
import Foundation
import Logging
import Operations
import TestSupport

// A compute host for the control plane's end-to-end test, as its own process:
// the real agent (`ComputeAgent`) over a fake ConnectX-3 that follows the
// kernel's mlx4 rules (TestSupport's FakeSysfs), whose physical pkey table is
// the ibsim port's as OpenSM programmed it (smpquery). After every round it
// writes what the fake HCA holds to <dir>/<name>.json for the test to check.
// The fake lives in memory: killing this process and starting it again is a
// host reboot (the VFs come back in the driver's defaults).
//
// Usage: FakeHostAgent URL TOKEN NAME NODEGUID DIR

let arguments = CommandLine.arguments
guard arguments.count == 6, let nodeGUID = UInt64(arguments[4].dropFirst(2), radix: 16) else {
    FileHandle.standardError.write(Data("usage: FakeHostAgent URL TOKEN NAME NODEGUID DIR\n".utf8))
    exit(2)
}
let (url, token, name, dir) = (arguments[1], arguments[2], arguments[3], arguments[5])
let environment = ProcessInfo.processInfo.environment.filter { ["LD_PRELOAD", "OSM_TMP_DIR", "OSM_CACHE_DIR", "IBSIM_SERVER_PORT"].contains($0.key) }

final class Host: @unchecked Sendable {
    let fake = FakeSysfs()
    var cached: (Date, [Int])?

    init(nodeGUID: UInt64, seed: UInt64) {
        // ibsim's HCA ports hold 64 pkeys: the fake's physical table is as long.
        let model = fake.addMLX4(nodeGUID: nodeGUID, vfs: 4, physicalLength: 64, seed: seed)
        model.physicalSource = { [unowned self] _ in self.table(nodeGUID + 1) }
    }

    func table(_ guid: UInt64) -> [Int] {
        if let (time, keys) = cached, Date().timeIntervalSince(time) < 0.3 { return keys }
        let keys = (try? SMPQuery.pkeys(guid: guid, port: 1, environment: environment, directory: dir)) ?? []
        cached = (Date(), keys)
        return keys
    }
}

let host = Host(nodeGUID: nodeGUID, seed: nodeGUID)
LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
var configuration = AgentConfiguration(name: name)
configuration.interval = 2
let client = try ControllerClient(url: url, token: token)
let agent = ComputeAgent(configuration: configuration, client: client, logger: Logger(label: name),
                         sysfs: { host.fake }, afterRound: { generation in
    // The fake HCA's VFs as the backend reads them (the kernel's files), for the test;
    // rounds and this hook run on the agent's one task, so the fake is never shared.
    let backend = ConnectXBackend(sysfsFor: { _ in host.fake })
    let entry = HostEntry(index: 0, name: name, device: "mlx4_0", port: 1, nodeGUID: nodeGUID, portGUID: nodeGUID + 1, membership: .physicalPort)
    guard let hardware = try? backend.actual(entry) else { return }
    let report = HostReport(generation: generation, hardware: hardware, vfAddresses: [])
    if let data = try? API.encoder.encode(report) { try? AtomicFile.write(String(decoding: data, as: UTF8.self), to: "\(dir)/\(name).json") }
})
let done = DispatchSemaphore(value: 0)
Task.detached {
    try? await agent.run()
    done.signal()
}
done.wait()
