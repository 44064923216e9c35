import Allocation
import CloudModel

/// The three deciders of the property tests, driven in lockstep: the engine with
/// the indexed policy, the engine with the O(H) reference policy, and the oracle.
public struct ThreeWay {
    public let indexed: AllocationEngine
    public let naive: AllocationEngine
    public private(set) var oracle: ReferenceCloud
    let indexedPolicy: any PlacementPolicy
    let naivePolicy: any PlacementPolicy
    let oracleRandom: TestRandomSource
    let policyName: String
    public private(set) var running: [Int64] = []
    var nextID: Int64 = 1

    /// What one operation decided, three times.
    public struct Step {
        public var indexed: Decision
        public var naive: Decision
        public var oracle: ReferenceCloud.Outcome
        /// The request, when the operation was an admission.
        public var admitted: ClusterRequest?
        /// For a release: whether all three agreed the cluster was running.
        public var releasesAgree = true
    }

    public init(cloud: CloudSpec, policyName: String, seed: UInt64) {
        indexed = AllocationEngine(cloud: cloud)
        naive = AllocationEngine(cloud: cloud)
        oracle = ReferenceCloud(cloud: cloud)
        indexedPolicy = PlacementPolicies.make(policyName, random: TestRandomSource(seed: seed))!
        naivePolicy = ReferencePolicies.make(policyName, random: TestRandomSource(seed: seed))
        oracleRandom = TestRandomSource(seed: seed)
        self.policyName = policyName
    }

    /// One random operation: an admission of 1-6 VMs of `shape` half the time (always
    /// when nothing runs), else an extension, a shrink or a release of a running cluster.
    public mutating func step(_ rng: inout TestRandom, shape: (inout TestRandom) -> VMShape) -> Step {
        let roll = Double.random(in: 0..<1, using: &rng)
        if roll < 0.5 || running.isEmpty {
            let request = Fixtures.request(nextID, vms: Int.random(in: 1...6, using: &rng), shape(&rng))
            nextID += 1
            let step = Step(indexed: indexed.admit(request, policy: indexedPolicy), naive: naive.admit(request, policy: naivePolicy),
                            oracle: oracle.admit(request, policy: policyName, random: oracleRandom), admitted: request)
            if case .accepted = step.indexed { running.append(request.id) }
            return step
        }
        if roll < 0.65 {
            let id = running.randomElement(using: &rng)!
            let k = Int.random(in: 1...3, using: &rng)
            return Step(indexed: indexed.extend(cluster: id, by: k, policy: indexedPolicy), naive: naive.extend(cluster: id, by: k, policy: naivePolicy),
                        oracle: oracle.extend(cluster: id, by: k, policy: policyName, random: oracleRandom))
        }
        if roll < 0.75 {
            let id = running.randomElement(using: &rng)!
            let k = Int.random(in: 1...4, using: &rng)
            return Step(indexed: indexed.shrink(cluster: id, by: k), naive: naive.shrink(cluster: id, by: k), oracle: oracle.shrink(cluster: id, by: k))
        }
        let id = running.remove(at: Int.random(in: 0..<running.count, using: &rng))
        let departed = indexed.release(cluster: id)
        var step = Step(indexed: .ignored, naive: .ignored, oracle: .ignored)
        step.releasesAgree = departed == naive.release(cluster: id) && oracle.release(cluster: id) == (departed != nil)
        return step
    }
}
