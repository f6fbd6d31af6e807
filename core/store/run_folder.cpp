#include "store/run_folder.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace dpowb::store {

namespace {

bool isModelSpec(const std::string& s) { return !s.empty() && s.rfind("builtin:", 0) != 0; }

// Whether the two name one folder (by identity where both exist, else as absolute,
// normalised paths).
bool sameFolder(const fs::path& inner, const fs::path& outer) {
    std::error_code ec;
    if (fs::exists(inner, ec) && fs::exists(outer, ec) && fs::equivalent(inner, outer, ec)) return true;
    auto parts = [&](const fs::path& p) {
        std::vector<std::string> v;
        for (const auto& part : fs::weakly_canonical(fs::absolute(p), ec))
            if (!part.empty() && part != ".") v.push_back(part.string());
        return v;
    };
    const auto a = parts(inner), b = parts(outer);
    return a == b;
}

bool isEmptyFolder(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec) && fs::directory_iterator(p, ec) == fs::directory_iterator();
}

}  // namespace

std::optional<RunFolderMarker> readRunFolderMarker(const std::string& dir) {
    const fs::path file = fs::path(dir) / kRunFolderMarkerName;
    std::error_code ec;
    if (!fs::exists(file, ec)) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(readFile(file), nullptr, false);
    if (!j.is_object()) throw Error(file.string() + ": not a run folder marker (expected a JSON object)");
    RunFolderMarker m;
    m.projectId = j.value("project_id", "");
    m.projectPath = j.value("project_path", "");
    m.runId = j.value("run_id", int64_t(0));
    m.token = j.value("token", "");
    m.createdAt = j.value("created_at", int64_t(0));
    return m;
}

void writeRunFolderMarker(const std::string& dir, const RunFolderMarker& m) {
    nlohmann::ordered_json j;
    j["project_id"] = m.projectId;
    j["project_path"] = m.projectPath;
    j["run_id"] = m.runId;
    j["token"] = m.token;
    j["created_at"] = m.createdAt;
    writeFileAtomic(fs::path(dir) / kRunFolderMarkerName, j.dump(2) + "\n");
}

std::string newRunFolderToken() {
    std::random_device rd;
    char buf[33];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", unsigned(rd()), unsigned(rd()), unsigned(rd()), unsigned(rd()));
    return buf;
}

std::string defaultRunsRoot(const std::string& file) {
    const fs::path p(file);
    fs::path stem = p.filename();
    // demo.db -> demo; data.jsonl.gz -> data; a name without extension keeps its name.
    while (stem.has_extension() && stem.extension() != stem) stem = stem.stem();
    return (p.parent_path() / (stem.string() + ".runs")).string();
}

std::string defaultRunFolder(const std::string& projectFile, const std::string& projectId, int64_t runId) {
    const fs::path root = defaultRunsRoot(projectFile);
    const fs::path plain = root / std::to_string(runId);
    std::error_code ec;
    if (!fs::exists(plain, ec) || isEmptyFolder(plain)) return plain.string();
    std::optional<RunFolderMarker> m;
    try {
        m = readRunFolderMarker(plain.string());
    } catch (const Error&) {
    }
    if (m && m->projectId == projectId && m->runId == runId) return plain.string();
    return (root / (std::to_string(runId) + "-" + projectId.substr(0, 8))).string();
}

void checkOutputFolder(const OutputFolderCheck& c) {
    const fs::path out(c.out);
    for (const auto& [model, what] : {std::pair{c.modelFolder, "the base model's"}, std::pair{c.referenceFolder, "the reference's"}}) {
        if (!isModelSpec(model)) continue;
        if (sameFolder(out, model))
            throw Error(c.out + ": that is " + what + " folder (" + model +
                        "); the run would overwrite it: give --out a new or empty folder");
    }
    std::error_code ec;
    if (!fs::exists(out, ec)) return;
    if (!fs::is_directory(out, ec)) throw Error(c.out + ": exists and is not a folder: choose another --out");
    if (isEmptyFolder(out)) return;
    std::optional<RunFolderMarker> m;
    try {
        m = readRunFolderMarker(c.out);
    } catch (const Error&) {
    }
    if (m && c.resumingRunId > 0 && m->projectId == c.projectId && m->runId == c.resumingRunId) return;
    if (c.overwrite) return;
    if (!m)
        throw Error(c.out + ": not empty and not made by a run of this project; give --out a new or empty folder, "
                            "or pass --overwrite-output-dir to write into it");
    const std::string whose = m->projectId == c.projectId && !c.projectId.empty()
                                  ? "run " + std::to_string(m->runId) + " of this project"
                                  : "a run of another project" + (m->projectPath.empty() ? std::string() : " (" + m->projectPath + ")");
    throw Error(c.out + ": not empty, it holds " + whose +
                "; give --out a new or empty folder, or pass --overwrite-output-dir to write over it");
}

std::string runFolderProblem(const std::string& dir, const std::string& projectId, int64_t runId,
                             const std::string& token) {
    if (token.empty()) return {};
    std::optional<RunFolderMarker> m;
    try {
        m = readRunFolderMarker(dir);
    } catch (const Error& e) {
        return e.what();
    }
    if (!m)
        return dir + " no longer holds the files of run " + std::to_string(runId) + " (its marker " +
               kRunFolderMarkerName + " is gone)";
    if (m->token != token) {
        std::string who = m->projectId == projectId ? "run " + std::to_string(m->runId) + " of this project"
                                                    : "a run of another project" +
                                                          (m->projectPath.empty() ? std::string() : " (" + m->projectPath + ")");
        return dir + " was written over by " + who + "; its policy and reference no longer belong to run " +
               std::to_string(runId);
    }
    return {};
}

}  // namespace dpowb::store
