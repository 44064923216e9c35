import Allocation
import CloudModel
import Foundation

/// Writes hpccloud's managed block of OpenSM's partitions.conf
/// (linux-rdma/opensm doc/partition-config.txt).
public enum PartitionRenderer {
    public struct Tenant: Sendable {
        public var clusterID: Int64
        public var pkey: Int
        /// Port GUIDs (shared-port hosts) or VF GUIDs (vSwitch VFs): full members.
        public var members: [UInt64]

        public init(clusterID: Int64, pkey: Int, members: [UInt64]) {
            self.clusterID = clusterID
            self.pkey = pkey
            self.members = members
        }
    }

    /// The block: the default partition's rule, then one partition per cluster.
    ///
    /// OpenSM creates Default before it reads the file (ALL limited, its own
    /// port full; osm_prtn.c:358-384, 417) and merges every later statement
    /// with the same pkey into it (osm_prtn.c:344-353); for a port named twice
    /// the later mention wins (osm_prtn_config.c:463-518). So with no Default
    /// of the site's we write the documented rule `ALL=limited, SELF=full`
    /// with the hypervisors after it; with one, only the hypervisors, which
    /// merge into the site's rule. Shared-port hypervisors are `both`: full
    /// for the host, and (with `allow_both_pkeys TRUE`, osm_prtn_config.c:508-516)
    /// the limited key in the physical table for their VFs' index 1, so a VM
    /// reaches the SA without the full default key. vSwitch PFs are full.
    ///
    /// Never a parse error: one would make OpenSM drop every partition but a
    /// full Default (osm_prtn.c:421-445). So no GUID 0 (osm_prtn_config.c:501-504),
    /// names that do not start with a digit (osm_prtn_config.c:221-224) and fit
    /// 31 characters (osm_partition.h:99), and member lists split over lines far
    /// below the 4 KB line buffer (osm_prtn_config.c:776).
    public static func block(tenants: [Tenant], hypervisors: [HostEntry], flags: PartitionFlags, siteDefinesDefault: Bool) -> String {
        var text = ""
        var members = siteDefinesDefault ? [] : ["ALL=limited", "SELF=full"]
        for host in hypervisors.sorted(by: { $0.portGUID < $1.portGUID }) where host.portGUID != 0 {
            members.append(GUIDFormat.hex(host.portGUID) + (host.membership == .physicalPort ? "=both" : "=full"))
        }
        if !members.isEmpty { text += statement("Default=0x7fff" + (siteDefinesDefault ? "" : ", ipoib"), members) }
        var flagText = flags.ipoib ? ", ipoib" : ""
        if let mtu = flags.mtu { flagText += ", mtu=\(mtu)" }
        if let rate = flags.rate { flagText += ", rate=\(rate)" }
        if let sl = flags.serviceLevel { flagText += ", sl=\(sl)" }
        for tenant in tenants.sorted(by: { $0.pkey < $1.pkey }) {
            let members = tenant.members.filter { $0 != 0 }.map { GUIDFormat.hex($0) + "=full" }
            guard !members.isEmpty else { continue }
            text += statement("hpccloud_c\(tenant.clusterID)=\(PartitionKey(tenant.pkey))\(flagText)", members)
        }
        return text
    }

    /// `header : m1, m2, ... ;` with at most 8 members a line.
    static func statement(_ header: String, _ members: [String]) -> String {
        var lines: [String] = []
        var i = 0
        while i < members.count {
            lines.append(members[i..<min(i + 8, members.count)].joined(separator: ", "))
            i += 8
        }
        return header + " : " + lines.joined(separator: ",\n    ") + " ;\n"
    }
}
