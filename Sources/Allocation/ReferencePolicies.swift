import CloudModel

/// Reference policies written straight from SEMANTICS section 5: each scans
/// every host with the literal host rules (`query.fits`), no index, O(H) per
/// VM. The indexed policies must make the same decision as these, VM by VM
/// (the property tests and `hpccloud bench` check it).
public enum ReferencePolicies {
    public static func make(_ name: String, random: RandomSource) -> any PlacementPolicy {
        switch name {
        case "first-fit": NaiveFirstFit()
        case "best-fit": NaiveExtreme(fewest: true)
        case "worst-fit": NaiveExtreme(fewest: false)
        case "pkey-pack": NaivePKeyPack()
        case "random": NaiveRandom(random: random)
        default: preconditionFailure("no naive policy \(name)")
        }
    }

    static func allFitting(_ query: PlacementQuery) -> [Int] {
        (0..<query.hostCount).filter(query.fits)
    }
}

struct NaiveFirstFit: PlacementPolicy {
    let name = "naive-first-fit"
    func chooseHost(for query: PlacementQuery) -> Int? { ReferencePolicies.allFitting(query).first }
}

struct NaiveExtreme: PlacementPolicy {
    let fewest: Bool
    var name: String { fewest ? "naive-best-fit" : "naive-worst-fit" }
    func chooseHost(for query: PlacementQuery) -> Int? {
        var best: (free: Int, host: Int)?
        for host in ReferencePolicies.allFitting(query) {
            let free = query.freeCoresAfter(host)
            if let b = best, fewest ? free >= b.free : free <= b.free { continue }
            best = (free, host)
        }
        return best?.host
    }
}

struct NaivePKeyPack: PlacementPolicy {
    let name = "naive-pkey-pack"
    func chooseHost(for query: PlacementQuery) -> Int? {
        let fitting = ReferencePolicies.allFitting(query)
        if query.shape.kind == .hpc, let own = fitting.first(where: query.clusterHosts.contains) { return own }
        return fitting.first
    }
}

/// The documented sampling procedure of `RandomFit`, over a full scan.
struct NaiveRandom: PlacementPolicy {
    let name = "naive-random"
    let random: RandomSource
    func chooseHost(for query: PlacementQuery) -> Int? {
        let fitting = ReferencePolicies.allFitting(query)
        guard !fitting.isEmpty else { return nil }
        let range = query.hostRange
        for _ in 0..<RandomFit.draws {
            let host = range.lowerBound + random.uniformInt(below: range.count)
            if fitting.contains(host) { return host }
        }
        return fitting[random.uniformInt(below: fitting.count)]
    }
}
