// The models already downloaded into the user's Hugging Face cache, so that a model can be
// chosen by its name ("Qwen/Qwen2.5-0.5B") instead of typed as a snapshot path. The cache is
// huggingface_hub's layout:
//   HUB/models--ORG--NAME/snapshots/REVISION/{config.json, *.safetensors, tokenizer.json, ...}
//   HUB/models--ORG--NAME/refs/BRANCH          (a file holding the REVISION it points at)
// where the snapshot's files are links into ../../blobs/. `dpowb list-models` prints the
// listing; the GUI's model pickers offer it.
//
// Torch-free; reads config.json and file sizes only (model/inspect.h), never weights.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dpowb::model {

// The hub cache folder, as huggingface_hub resolves it: $HF_HUB_CACHE, else
// $HUGGINGFACE_HUB_CACHE (its older name), else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. The folder may not exist.
std::string huggingFaceHubCache();

struct CachedModel {
    std::string repoId;    // "ORG/NAME" (or "NAME" for a repository without an owner)
    // "ORG/NAME" for the snapshot `main` points at (or a repository's only snapshot),
    // "ORG/NAME@REVISION12" (the first 12 characters of the revision) for the others.
    std::string name;
    std::string revision;  // the snapshot folder's name (a commit hash)
    std::vector<std::string> refs;  // the branches or tags that point at it ("main")
    std::string path;      // the snapshot folder: what `--model` and the pickers take
    // From model/inspect.h when usable:
    std::string architecture;  // "llama" or "gpt2" (the engine's family)
    std::string modelType;     // config.json's model_type ("qwen2", "mistral", ...)
    int64_t parameters = 0;
    int64_t weightBytes = 0;   // of the *.safetensors files
    std::string problem;       // why the engine cannot load it; "" when it can
    bool usable() const { return problem.empty(); }
};

// The repository and revision of a folder that is a snapshot of a Hugging Face cache
// (…/models--ORG--NAME/snapshots/REVISION, links resolved); nullopt for any other folder.
struct HubSnapshot {
    std::string repoId, revision;
};
std::optional<HubSnapshot> hubSnapshotOf(const std::string& folder);

// Every snapshot of every model repository in `hubCache`, sorted by repository and then with
// the snapshot `main` points at first. A missing or unreadable cache folder is an empty list; a
// snapshot the engine cannot use is listed with its problem (an unsupported architecture,
// pickle weights only, a download still under way) rather than left out, so a user sees why.
std::vector<CachedModel> listCachedModels(const std::string& hubCache = huggingFaceHubCache());

}  // namespace dpowb::model
