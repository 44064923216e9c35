import Foundation

/// Finds the project's top-level directories (`Hardware/`, `Workloads/`) from
/// wherever the tool runs.
public enum ProjectDirectory {
    /// `$environment` if set, else the first `name/` holding `marker` found
    /// walking up from each of `searchFrom`.
    public static func locate(_ name: String, containing marker: String, environment: String,
                              searchFrom: [String], flag: String) throws -> String {
        if let fromEnvironment = ProcessInfo.processInfo.environment[environment], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        for start in searchFrom {
            var url = URL(fileURLWithPath: start).standardizedFileURL
            while true {
                let candidate = url.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(marker).path) {
                    return candidate.path
                }
                let parent = url.deletingLastPathComponent()
                if parent.path == url.path { break }
                url = parent
            }
        }
        throw InputError(file: name + "/", message: "no \(name)/ directory with \(marker) found above \(searchFrom.joined(separator: ", ")); set \(environment) or pass \(flag)")
    }
}

/// The scenarios shipped in `Workloads/`, each with its one-line purpose.
public enum ScenarioLibrary {
    /// The marker that identifies the library directory.
    public static let marker = "README.md"

    /// Every `*.yaml` in `directory`, loaded and validated, in file-name order.
    public static func load(directory: String, loader: ScenarioLoader) throws -> [Scenario] {
        try HardwareCatalog.yamlFiles(in: directory).map { try loader.load(path: $0) }
    }
}
