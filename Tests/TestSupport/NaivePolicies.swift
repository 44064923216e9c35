import Allocation
import CloudModel

/// Reference policies written straight from SEMANTICS section 5: each scans
/// every host with the literal host rules (`query.fits`), no index. The indexed
/// policies must make the same decision as these, VM by VM.
public enum NaivePolicies {
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
    func chooseHost(for query: PlacementQuery) -> Int? { NaivePolicies.allFitting(query).first }
}

struct NaiveExtreme: PlacementPolicy {
    let fewest: Bool
    var name: String { fewest ? "naive-best-fit" : "naive-worst-fit" }
    func chooseHost(for query: PlacementQuery) -> Int? {
        var best: (free: Int, host: Int)?
        for host in NaivePolicies.allFitting(query) {
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
        let fitting = NaivePolicies.allFitting(query)
        if query.shape.kind == .hpc, let own = fitting.first(where: query.clusterHosts.contains) { return own }
        return fitting.first
    }
}

/// The documented sampling procedure of `RandomFit`, over a full scan.
struct NaiveRandom: PlacementPolicy {
    let name = "naive-random"
    let random: RandomSource
    func chooseHost(for query: PlacementQuery) -> Int? {
        let fitting = NaivePolicies.allFitting(query)
        guard !fitting.isEmpty else { return nil }
        for _ in 0..<RandomFit.draws {
            let host = random.uniformInt(below: query.hostCount)
            if fitting.contains(host) { return host }
        }
        return fitting[random.uniformInt(below: fitting.count)]
    }
}
