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
        // Keys in use per subnet: a cluster's in each subnet it has VMs in.
        var pkeys = Array(repeating: Set<Int>(), count: subnetCount)
        var dynamicLIDs = Array(repeating: 0, count: subnetCount)
        for (id, record) in state.clusters {
            if record.vms.isEmpty { problems.append("cluster \(id) has no VMs") }
            if (record.shape.kind == .hpc) != (record.pkey != nil) { problems.append("cluster \(id): pkey does not match its kind") }
            if let pkey = record.pkey {
                let subnets = Set(record.vms.map { subnet(of: $0.host) })
                for s in subnets {
                    if !pkeys[s].insert(pkey.value).inserted { problems.append("pkey \(pkey) is held by two clusters") }
                    if !state.freePKeys[s].contains(pkey.value) {
                        problems.append("pkey \(pkey) of cluster \(id) is outside subnet \(s)'s pool")
                    } else if state.freePKeys[s].isFree(pkey.value) {
                        problems.append("pkey \(pkey) of cluster \(id) is also in the free pool")
                    }
                }
                if !spanning && subnets.count > 1 { problems.append("cluster \(id) spans subnets") }
            }
            var counts: [Int: Int] = [:]
            for vm in record.vms {
                counts[vm.host, default: 0] += 1
                if record.shape.pinning == .fixed { pinned[vm.host] += record.shape.vcores } else { dynamic[vm.host] += record.shape.vcores }
                memory[vm.host] += record.shape.memoryMiB
                if record.shape.kind == .hpc {
                    usedVFs[vm.host] += 1
                    if needsLIDPerVF[vm.host] { dynamicLIDs[subnet(of: vm.host)] += 1 }
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
                if needsLIDPerVF[slot.host] { dynamicLIDs[subnet(of: slot.host)] += 1 }
                if !vfSeen.insert(slot.host * 4096 + vf).inserted { problems.append("VF \(vf) of host \(slot.host) held and assigned") }
            }
            if slot.pkeyEntry { entries[slot.host] += 1 }
            if let shape = slot.shape {
                if shape.pinning == .fixed { pinned[slot.host] += shape.vcores } else { dynamic[slot.host] += shape.vcores }
                memory[slot.host] += shape.memoryMiB
            }
        }
        for s in 0..<subnetCount {
            let pool = state.freePKeys[s]
            for pkey in state.holds.pkeys where pool.contains(pkey) {
                if !pkeys[s].insert(pkey).inserted { problems.append("pkey \(PartitionKey(pkey)) is held and used") }
                if pool.isFree(pkey) { problems.append("held pkey \(PartitionKey(pkey)) is also in the free pool") }
            }
            if pool.freeCount != pool.count - pkeys[s].count {
                problems.append("pkey pool of subnet \(s) has \(pool.freeCount) free keys, expected \(pool.count - pkeys[s].count)")
            }
        }
        if state.exhaustedPools != state.freePKeys.filter({ $0.freeCount == 0 }).count { problems.append("exhausted pool count disagrees") }
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
            let index = state.indexes[subnet(of: h)], leaf = h - subnetStart[subnet(of: h)]
            if index.leaf(leaf) != capacity(ofHost: h)
                || (!index.values.isEmpty && index.values[index.leafBase + leaf] != ValueSets(leaf: capacity(ofHost: h))) {
                problems.append("host \(h): index leaf is stale")
            }
        }
        for (s, index) in state.indexes.enumerated() {
            if index.hostCount != hosts(ofSubnet: s).count { problems.append("subnet \(s): index has \(index.hostCount) hosts") }
            for i in 1..<index.leafBase where index.nodes[i] != Capacity.combine(index.nodes[2 * i], index.nodes[2 * i + 1])
                || (!index.values.isEmpty && index.values[i] != ValueSets.combine(index.values[2 * i], index.values[2 * i + 1])) {
                problems.append("subnet \(s): index node \(i) is stale")
                break
            }
            if subnetCount > 1 {
                let (summary, values) = subnetSummary(s)
                if state.subnetIndex.leaf(s) != summary || (!state.subnetIndex.values.isEmpty && state.subnetIndex.values[state.subnetIndex.leafBase + s] != values) {
                    problems.append("subnet \(s): subnet index leaf is stale")
                }
                let use = state.subnetUse[s]
                let range = hosts(ofSubnet: s)
                let held = range.reduce(0) { $0 + pinned[$1] + overcommit.physicalCores(forDynamic: dynamic[$1]) }
                if use.physicalCores != held || use.vfs != usedVFs[range].reduce(0, +) || use.pkeyEntries != entries[range].reduce(0, +)
                    || use.memoryMiB != memory[range].reduce(0, +) {
                    problems.append("subnet \(s): usage counters disagree")
                }
            }
        }
        if physical != state.usedPhysicalCores { problems.append("used physical cores total disagrees") }
        if usedVFs.reduce(0, +) != state.usedVFsTotal { problems.append("used VFs total disagrees") }
        if state.usedMemoryMiB.reduce(0, +) != state.usedMemoryMiBTotal { problems.append("used memory total disagrees") }
        if entries.reduce(0, +) != state.usedPKeyEntriesTotal { problems.append("used pkey entries total disagrees") }
        for s in 0..<subnetCount {
            if state.lidsInUse[s] != cloud.buildTimeLIDs(subnet: s).total + dynamicLIDs[s] { problems.append("LIDs in use in subnet \(s) disagree") }
            if checkCapacity && state.lidsInUse[s] > lidSpaces[s] { problems.append("LID space of subnet \(s) exceeded") }
        }
        if state.lidsInUseTotal != state.lidsInUse.reduce(0, +) { problems.append("LIDs in use total disagrees") }
        return problems
    }
}
