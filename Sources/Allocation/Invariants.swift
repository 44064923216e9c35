import CloudModel

extension AllocationEngine {
    /// Recomputes everything derivable from the running clusters and lists each
    /// disagreement with the engine's state or each broken capacity. Empty when
    /// all invariants hold. For tests and debug checks: O(H + VMs).
    /// - Parameter checkCapacity: false for an engine restored over today's
    ///   capacity (`restore` reports that), where only the bookkeeping must agree.
    public func invariantViolations(checkCapacity: Bool = true) -> [String] {
        var problems: [String] = []
        let n = hostCount
        var pinned = Array(repeating: 0, count: n), dynamic = Array(repeating: 0, count: n)
        var memory = Array(repeating: Int64(0), count: n), usedVFs = Array(repeating: 0, count: n)
        var entries = Array(repeating: 0, count: n)
        var vfSeen = Set<Int>()
        var pkeys = Set<Int>()
        var dynamicLIDs = 0
        for (id, record) in state.clusters {
            if record.vms.isEmpty { problems.append("cluster \(id) has no VMs") }
            if (record.shape.kind == .hpc) != (record.pkey != nil) { problems.append("cluster \(id): pkey does not match its kind") }
            if let pkey = record.pkey {
                if !pkeys.insert(pkey.value).inserted { problems.append("pkey \(pkey) is held by two clusters") }
                if state.freePKeys.isFree(pkey.value) { problems.append("pkey \(pkey) of cluster \(id) is also in the free pool") }
            }
            var counts: [Int: Int] = [:]
            for vm in record.vms {
                counts[vm.host, default: 0] += 1
                if record.shape.pinning == .fixed { pinned[vm.host] += record.shape.vcores } else { dynamic[vm.host] += record.shape.vcores }
                memory[vm.host] += record.shape.memoryMiB
                if record.shape.kind == .hpc {
                    usedVFs[vm.host] += 1
                    if needsLIDPerVF[vm.host] { dynamicLIDs += 1 }
                    guard let vf = vm.virtualFunction, vf >= 0, vf < vfs[vm.host] else {
                        problems.append("cluster \(id): hpc VM on host \(vm.host) has no valid VF"); continue
                    }
                    if !vfSeen.insert(vm.host * 4096 + vf).inserted { problems.append("VF \(vf) of host \(vm.host) assigned twice") }
                    if state.vfBits[vm.host * vfWordsPerHost + vf >> 6] & (1 << UInt64(vf & 63)) == 0 {
                        problems.append("VF \(vf) of host \(vm.host) in use but not marked")
                    }
                } else if vm.virtualFunction != nil {
                    problems.append("cluster \(id): common VM holds a VF")
                }
            }
            if record.shape.kind == .hpc { for host in counts.keys { entries[host] += 1 } }
            let recorded = Dictionary(uniqueKeysWithValues: record.hostCounts.map { ($0.host, $0.vms) })
            if recorded != counts { problems.append("cluster \(id): per-host VM counts disagree with its VMs") }
        }
        for slot in state.holds.slots {
            if let vf = slot.virtualFunction {
                usedVFs[slot.host] += 1
                if needsLIDPerVF[slot.host] { dynamicLIDs += 1 }
                if !vfSeen.insert(slot.host * 4096 + vf).inserted { problems.append("VF \(vf) of host \(slot.host) held and assigned") }
            }
            if slot.pkeyEntry { entries[slot.host] += 1 }
            if let shape = slot.shape {
                if shape.pinning == .fixed { pinned[slot.host] += shape.vcores } else { dynamic[slot.host] += shape.vcores }
                memory[slot.host] += shape.memoryMiB
            }
        }
        for pkey in state.holds.pkeys {
            if !pkeys.insert(pkey).inserted { problems.append("pkey \(PartitionKey(pkey)) is held and used") }
            if state.freePKeys.isFree(pkey) { problems.append("held pkey \(PartitionKey(pkey)) is also in the free pool") }
        }
        if state.freePKeys.freeCount != cloud.subnet.pkeyPool.count - pkeys.count {
            problems.append("pkey pool has \(state.freePKeys.freeCount) free keys, expected \(cloud.subnet.pkeyPool.count - pkeys.count)")
        }
        var physical = 0
        for h in 0..<n {
            if pinned[h] != state.pinnedVcores[h] || dynamic[h] != state.dynamicVcores[h] { problems.append("host \(h): vCPU counts disagree") }
            if memory[h] != state.usedMemoryMiB[h] { problems.append("host \(h): memory disagrees") }
            if usedVFs[h] != state.usedVFs[h] { problems.append("host \(h): VF count disagrees") }
            if entries[h] != state.usedPKeyEntries[h] { problems.append("host \(h): pkey entry count disagrees") }
            let marked = (0..<vfWordsPerHost).reduce(0) { $0 + state.vfBits[h * vfWordsPerHost + $1].nonzeroBitCount }
            if marked != usedVFs[h] { problems.append("host \(h): \(marked) VFs marked, \(usedVFs[h]) in use") }
            let held = pinned[h] + overcommit.physicalCores(forDynamic: dynamic[h])
            physical += held
            if checkCapacity {
                if held > cores[h] { problems.append("host \(h): cores exceeded (\(held) > \(cores[h]))") }
                if memory[h] > memoryMiB[h] { problems.append("host \(h): memory exceeded") }
                if usedVFs[h] > vfs[h] { problems.append("host \(h): VFs exceeded") }
                if 1 + entries[h] > pkeyEntries[h] + 1 { problems.append("host \(h): pkey table exceeded") }
            }
            if state.index.leaf(h) != capacity(ofHost: h)
                || (!state.index.values.isEmpty && state.index.values[state.index.leafBase + h] != ValueSets(leaf: capacity(ofHost: h))) {
                problems.append("host \(h): index leaf is stale")
            }
        }
        let index = state.index
        for i in 1..<index.leafBase where index.nodes[i] != Capacity.combine(index.nodes[2 * i], index.nodes[2 * i + 1])
            || (!index.values.isEmpty && index.values[i] != ValueSets.combine(index.values[2 * i], index.values[2 * i + 1])) {
            problems.append("index node \(i) is stale")
            break
        }
        if physical != state.usedPhysicalCores { problems.append("used physical cores total disagrees") }
        if usedVFs.reduce(0, +) != state.usedVFsTotal { problems.append("used VFs total disagrees") }
        if state.usedMemoryMiB.reduce(0, +) != state.usedMemoryMiBTotal { problems.append("used memory total disagrees") }
        if entries.reduce(0, +) != state.usedPKeyEntriesTotal { problems.append("used pkey entries total disagrees") }
        if state.lidsInUse != cloud.buildTimeLIDs.total + dynamicLIDs { problems.append("LIDs in use disagree") }
        if checkCapacity && state.lidsInUse > lidSpace { problems.append("LID space exceeded") }
        return problems
    }
}
