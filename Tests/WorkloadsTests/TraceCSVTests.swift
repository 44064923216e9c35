import CloudModel
import Testing
import Workloads

@Suite struct TraceCSVTests {
    let header = "id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration,op\n"

    func failure(_ text: String) -> InputError? {
        do {
            _ = try TraceCSV.parse(text, file: "t.csv")
            return nil
        } catch let error as InputError {
            #expect(!error.description.contains("\n"))
            return error
        } catch {
            return nil
        }
    }

    @Test func timesPastTheClockAreErrorsNotTraps() throws {
        let error = failure(header + "1,9223372036,alice,1,1,1,hpc,fixed,9223372036,\n")
        #expect(error?.field == "arrival" && error?.message.hasPrefix("expected at most 3155760000 seconds (100 years)") == true, "\(String(describing: error))")
    }

    @Test func aWrittenTraceReadsBackToTheSameWorkload() throws {
        let requests = [
            ClusterRequest(id: 3, arrival: 1_500_000_000, tenant: "alice", vms: 4,
                           shape: VMShape(vcores: 2, memoryMiB: 1536, kind: .hpc, pinning: .dynamic), duration: 3_600_000_000_000),
            ClusterRequest(id: 9, arrival: 2_000_001_000, tenant: "bob", vms: 1,
                           shape: VMShape(vcores: 8, memoryMiB: 1, kind: .common, pinning: .fixed), duration: 0, work: 1.25e6),
        ]
        let workload = Workload(requests: requests, resizes: [ResizeRequest(id: 3, time: 1_800_000_000_000, delta: -2)])
        let bytes = try TraceCSV.write(workload)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(header.dropLast() + ",work_gflop\n"))
        let parsed = try TraceCSV.parse(bytes, file: "written.csv")
        #expect(parsed.requests == requests && parsed.resizes == workload.resizes)
        // Without work there is no work column; times keep microseconds.
        let plain = Workload(requests: [ClusterRequest(id: 1, arrival: 1_234_567, tenant: "c", vms: 1,
                                                       shape: VMShape(vcores: 1, memoryMiB: 1024, kind: .hpc, pinning: .fixed), duration: 5)])
        let text = String(decoding: try TraceCSV.write(plain), as: UTF8.self)
        #expect(text == header + "1,0.001235,c,1,1,1,hpc,fixed,0.000000,arrive\n")
        // A tenant the format cannot hold is an error, not a corrupt row.
        for tenant in ["a,b", "a\nb", " a", "", "say \"hi\""] {
            var odd = plain
            odd.requests[0].tenant = tenant
            #expect(throws: InputError.self, "tenant \(tenant.debugDescription)") { try TraceCSV.write(odd) }
        }
    }

    @Test func readsArrivalsAndResizes() throws {
        let workload = try TraceCSV.parse(header + "7,1.5,alice,3,2,0.5,hpc,dynamic,3600,\r\n\n7,2,,-2,,,,,,resize\n8,2,bob,1,1,4,common,fixed,0,arrive\n",
                                          file: "t.csv")
        #expect(workload.requests == [
            ClusterRequest(id: 7, arrival: 1_500_000_000, tenant: "alice", vms: 3,
                           shape: VMShape(vcores: 2, memoryMiB: 512, kind: .hpc, pinning: .dynamic), duration: 3_600_000_000_000),
            ClusterRequest(id: 8, arrival: 2_000_000_000, tenant: "bob", vms: 1,
                           shape: VMShape(vcores: 1, memoryMiB: 4096, kind: .common, pinning: .fixed), duration: 0),
        ])
        #expect(workload.resizes == [ResizeRequest(id: 7, time: 2_000_000_000, delta: -2)])
    }

    @Test func workMayReplaceTheDuration() throws {
        let text = "id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration,work_gflop\n1,0,a,2,4,1,hpc,fixed,,5000.5\n2,1,a,1,1,1,hpc,fixed,60,\n"
        let requests = try TraceCSV.parse(text, file: "t.csv").requests
        #expect(requests[0].work == 5000.5 && requests[0].duration == 0)
        #expect(requests[1].work == nil && requests[1].duration == 60_000_000_000)
        let bad = failure("id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration,work_gflop\n1,0,a,2,4,1,hpc,fixed,,-3\n")
        #expect(bad?.description == "t.csv:2:10: work_gflop: expected a positive number of GFlop, got '-3'")
        #expect(failure("id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration\n1,0,a,2,4,1,hpc,fixed,\n")?.message == "missing value")
    }

    @Test func theOpColumnIsOptionalAndColumnsMayBeReordered() throws {
        let workload = try TraceCSV.parse("tenant,id,arrival,vms,vcores,mem_gib,kind,pinning,duration\nx,1,0,1,1,1,hpc,fixed,1\n", file: "t.csv")
        #expect(workload.requests.count == 1 && workload.requests[0].tenant == "x")
    }

    @Test(arguments: [
        ("1,0,a,2,1,1,hpc,fixed,10\n", "t.csv:2: expected 10 fields as in the header, got 9"),
        ("1,0,a,2x,1,1,hpc,fixed,10,\n", "t.csv:2:4: vms: expected an integer, got '2x'"),
        ("1,0,a,2,1,1,hpc,fixed,-10,\n", "t.csv:2:9: duration: negative value -10"),
        ("1,0,a,2,1,1,gpu,fixed,10,\n", "t.csv:2:7: kind: unknown kind 'gpu' (expected hpc or common)"),
        ("1,0,a,2,1,1,hpc,fixed,10,\n5,3,,1,,,,,,resize\n", "t.csv:3:1: id: resize of unknown id 5 (no earlier arrive row)"),
        ("1,0,a,2,1,1,hpc,fixed,10,\n1,3,b,1,1,1,hpc,fixed,1,\n", "t.csv:3:1: id: duplicate request id 1"),
        ("1,zero,a,2,1,1,hpc,fixed,10,\n", "t.csv:2:2: arrival: expected a non-negative decimal number of seconds, got 'zero'"),
        ("1,0,a,0,1,1,hpc,fixed,10,\n", "t.csv:2:4: vms: expected 1...1000000, got 0"),
        ("1,0,a,1,1,1,hpc,pinned,10,\n", "t.csv:2:8: pinning: unknown pinning 'pinned' (expected fixed or dynamic)"),
        ("1,0,a,1,1,1,hpc,fixed,10,grow\n", "t.csv:2:10: op: expected arrive or resize, got 'grow'"),
        ("1,0,a,1,1,1,hpc,fixed,10,\n1,2,,0,,,,,,resize\n", "t.csv:3:4: vms: a resize needs a non-zero VM delta"),
        ("1,0,,1,1,1,hpc,fixed,10,\n", "t.csv:2:3: tenant: expected a tenant name, got an empty field"),
    ])
    func badRowsNameFileLineAndColumn(body: String, message: String) {
        #expect(failure(header + body)?.description == message)
    }

    @Test func badHeadersAreNamed() {
        #expect(failure("id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration,colour\n")?.description
                == "t.csv:1:10: colour: unknown column (expected id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration[,op][,work_gflop])")
        #expect(failure("id,arrival,tenant,vms,vcores,mem_gib,kind,pinning\n")?.field == "duration")
        #expect(failure("")?.message.hasPrefix("the trace is empty") == true)
    }
}
