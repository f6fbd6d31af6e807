#include "model/hf_cache.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "model/inspect.h"

namespace dpowb::model {
namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : std::string();
}

// "models--Qwen--Qwen2.5-0.5B" -> "Qwen/Qwen2.5-0.5B" (huggingface_hub joins the id's parts
// with "--"; a part never contains "--").
std::string repoIdOf(const std::string& folder) {
    std::string id = folder.substr(std::string("models--").size());
    std::string out;
    for (size_t i = 0; i < id.size(); ++i) {
        if (id.compare(i, 2, "--") == 0) {
            out += '/';
            ++i;
        } else {
            out += id[i];
        }
    }
    return out;
}

std::string firstLine(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\n')) line.pop_back();
    return line;
}

}  // namespace

std::string huggingFaceHubCache() {
    if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HF_HOME"); !v.empty()) return (fs::path(v) / "hub").string();
    if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return (fs::path(v) / "huggingface" / "hub").string();
    return (fs::path(env("HOME")) / ".cache" / "huggingface" / "hub").string();
}

std::optional<HubSnapshot> hubSnapshotOf(const std::string& folder) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(folder, ec), ec);
    if (ec) return std::nullopt;
    if (p.filename().empty()) p = p.parent_path();  // a trailing slash
    const fs::path snapshots = p.parent_path();
    const fs::path repo = snapshots.parent_path();
    const std::string repoName = repo.filename().string();
    if (snapshots.filename() != "snapshots" || repoName.rfind("models--", 0) != 0 || repoName.size() <= 8)
        return std::nullopt;
    return HubSnapshot{repoIdOf(repoName), p.filename().string()};
}

std::vector<CachedModel> listCachedModels(const std::string& hubCache) {
    std::vector<CachedModel> out;
    std::error_code ec;
    std::vector<fs::path> repos;
    for (const auto& entry : fs::directory_iterator(hubCache, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("models--", 0) == 0 && name.size() > 8 && entry.is_directory(ec)) repos.push_back(entry.path());
    }
    std::sort(repos.begin(), repos.end());
    for (const auto& repo : repos) {
        const std::string repoId = repoIdOf(repo.filename().string());
        // Which snapshot each branch or tag names (refs/main, refs/pr/1, ...).
        std::vector<std::pair<std::string, std::string>> refs;  // (ref, revision)
        const fs::path refsDir = repo / "refs";
        for (auto it = fs::recursive_directory_iterator(refsDir, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec)) {
            if (it->is_regular_file(ec))
                refs.emplace_back(fs::relative(it->path(), refsDir, ec).generic_string(), firstLine(it->path()));
        }
        std::vector<fs::path> snapshots;
        for (const auto& entry : fs::directory_iterator(repo / "snapshots", ec))
            if (entry.is_directory(ec)) snapshots.push_back(entry.path());
        std::string mainRevision;
        for (const auto& [ref, rev] : refs)
            if (ref == "main") mainRevision = rev;
        std::sort(snapshots.begin(), snapshots.end(), [&](const fs::path& a, const fs::path& b) {
            const bool aMain = a.filename() == mainRevision, bMain = b.filename() == mainRevision;
            if (aMain != bMain) return aMain;
            return a.filename() < b.filename();
        });
        for (const auto& snap : snapshots) {
            CachedModel m;
            m.repoId = repoId;
            m.revision = snap.filename().string();
            m.path = snap.string();
            for (const auto& [ref, rev] : refs)
                if (rev == m.revision) m.refs.push_back(ref);
            const bool plain = snapshots.size() == 1 || m.revision == mainRevision;
            m.name = plain ? repoId : repoId + "@" + m.revision.substr(0, 12);
            try {
                const ModelInspection info = inspectModel(m.path, /*readTokenizer=*/false);
                m.architecture = info.config.architecture;
                m.modelType = info.config.modelType;
                m.parameters = info.parameters;
                m.weightBytes = info.weightBytes;
                if (!info.tokenizerFile) m.problem = "no tokenizer.json";
            } catch (const std::exception& e) {
                // The message starts with the folder (or a file in it); the listing shows the
                // folder already.
                std::string why = e.what();
                if (why.rfind(m.path + ": ", 0) == 0) why = why.substr(m.path.size() + 2);
                else if (why.rfind(m.path + "/", 0) == 0) why = why.substr(m.path.size() + 1);
                m.problem = why;
            }
            out.push_back(std::move(m));
        }
    }
    return out;
}

}  // namespace dpowb::model
