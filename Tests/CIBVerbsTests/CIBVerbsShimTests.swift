import CIBVerbs
import Glibc
import Testing

/// The libibverbs shim links and its wrapped macro is callable. This machine has
/// no RDMA device, so this checks the "no devices" path; the real discovery
/// code and its tests come with the ConnectX backend.
@Suite struct CIBVerbsShimTests {
    @Test func deviceListWithoutHardwareIsEmptyNotACrash() {
        var count: Int32 = -1
        errno = 0
        let list = ibv_get_device_list(&count)
        defer { if let list { ibv_free_device_list(list) } }
        // rdma-core (libibverbs/device.c, ibv_get_device_list) sets *num to 0 first, returns
        // NULL only with errno set, and otherwise a list of *num devices ending in NULL.
        #expect(count >= 0, "the count passed through the shim was written")
        if let list {
            #expect(list[Int(count)] == nil, "the list ends after count devices")
        } else {
            #expect(count == 0 && errno != 0)
        }
        for i in 0..<Int(max(count, 0)) {
            guard let device = list?[i], let context = ibv_open_device(device) else { continue }
            defer { ibv_close_device(context) }
            var port = ibv_port_attr()
            #expect(hpccloud_ibv_query_port(context, 1, &port) == 0)
        }
    }
}
