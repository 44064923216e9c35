import CloudModel
import Overheads
import Testing
import TestSupport

@Suite struct MigrationModelTests {
    let model: MigrationModel
    init() throws { model = try MigrationModel.load(path: Fixtures.hardwareDirectory + "/migration.yaml") }

    @Test func anIdleVMCopiesItsMemoryOnceAtTheLinkOrTheCap() {
        // 8 GiB, nothing dirtied, over FDR: the 128 MiB/s default cap, not the 54 Gb/s link, sets the pace.
        let cost = model.cost(memoryMiB: 8192, dirtyMiBPerSecond: 0, linkGbps: 54.3, mode: .vswitchPrepopulated, switches: 3, peers: 10)
        #expect(cost.rounds == 1 && cost.converged)
        #expect(abs(cost.bytesMoved - 8192 * 1_048_576) < 1)
        #expect(abs(cost.totalSeconds - (64 + model.vfDetachAttachSeconds.value + 3 * model.smpSeconds.value)) < 1e-9)
        // Raising the cap past the link: the link decides.
        var fast = model
        fast.bandwidthCapBytesPerSecond.value = 1e12
        let linked = fast.cost(memoryMiB: 8192, dirtyMiBPerSecond: 0, linkGbps: 54.3, mode: .vswitchPrepopulated, switches: 3, peers: 10)
        #expect(abs(linked.bytesMoved / (54.3e9 / 8) + linked.downtimeSeconds - linked.totalSeconds) < 1e-9)
    }

    @Test func dirtyingAddsRoundsAndAFastWriterNeverConverges() {
        let slow = model.cost(memoryMiB: 4096, dirtyMiBPerSecond: 32, linkGbps: 54.3, mode: .sharedPort, switches: 3, peers: 10)
        // Each round sends what the last one took a quarter of that time to dirty (32 of 128 MiB/s).
        #expect(slow.converged && slow.rounds > 1 && slow.bytesMoved > 4096 * 1_048_576)
        #expect(slow.downtimeSeconds - model.vfDetachAttachSeconds.value - 10 * model.pathQuerySeconds.value <= model.maxDowntimeSeconds.value + 1e-9)
        let fast = model.cost(memoryMiB: 4096, dirtyMiBPerSecond: 256, linkGbps: 54.3, mode: .sharedPort, switches: 3, peers: 10)
        #expect(!fast.converged && fast.downtimeSeconds > slow.downtimeSeconds)
    }

    @Test func theAddressingWorkFollowsTheSRIOVMode() {
        func cost(_ mode: SRIOVMode) -> MigrationModel.Cost {
            model.cost(memoryMiB: 1024, dirtyMiBPerSecond: 0, linkGbps: 54.3, mode: mode, switches: 5, peers: 40)
        }
        // Shared port: the LID changes, every peer asks for a path; vSwitch: the LID moves, switches are told.
        #expect(cost(.sharedPort).smps == 0 && cost(.sharedPort).pathQueries == 40)
        #expect(cost(.vswitchPrepopulated).smps == 5 && cost(.vswitchPrepopulated).pathQueries == 0)
        #expect(cost(.vswitchDynamic).smps == 6)
        #expect(cost(.sharedPort).downtimeSeconds > cost(.vswitchDynamic).downtimeSeconds)
    }

    @Test func everyParameterHasASourceAndBadFilesAreNamed() throws {
        for p in [model.maxDowntimeSeconds, model.bandwidthCapBytesPerSecond, model.maxRounds, model.vfDetachAttachSeconds,
                  model.smpSeconds, model.pathQuerySeconds, model.dirtyMiBPerSecond] {
            #expect(!p.source.isEmpty)
        }
        let text = try readText(Fixtures.hardwareDirectory + "/migration.yaml")
        #expect(throws: InputError.self) { try MigrationModel.parse(yaml: text.replacingOccurrences(of: "value: 30,", with: "value: 2.5,"), file: "m.yaml") }
        #expect(throws: InputError.self) { try MigrationModel.parse(yaml: text + "colour: red\n", file: "m.yaml") }
    }
}
