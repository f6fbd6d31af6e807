#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/error_text.h"
#include "common/files.h"

namespace dpowb::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct DtypeEntry {
    const char* name;
    torch::ScalarType type;
    uint64_t size;
};

const std::vector<DtypeEntry>& dtypeTable() {
    static const std::vector<DtypeEntry> t = {
        {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
        {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
        {"I16", torch::kInt16, 2},    {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
        {"BOOL", torch::kBool, 1},
    };
    return t;
}

const DtypeEntry* findDtype(const std::string& name) {
    for (const auto& e : dtypeTable())
        if (name == e.name) return &e;
    return nullptr;
}

// An index lists tensor names and file names; real ones are well under 1 MB.
constexpr uintmax_t kMaxIndexBytes = 64u << 20;

[[noreturn]] void failIn(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

}  // namespace

torch::ScalarType scalarTypeFromSafetensors(const std::string& dtype) {
    if (const auto* e = findDtype(dtype)) return e->type;
    throw Error("unsupported safetensors dtype \"" + dtype + "\"");
}

std::string safetensorsDtypeName(torch::ScalarType type) {
    for (const auto& e : dtypeTable())
        if (e.type == type) return e.name;
    throw Error(std::string("cannot store tensors of type ") + c10::toString(type) + " in safetensors");
}

struct SafetensorsFile::Mapping {
    void* addr = nullptr;
    size_t size = 0;
    ~Mapping() {
        if (addr && addr != MAP_FAILED) munmap(addr, size);
    }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    auto fail = [&](const std::string& what) { failIn(path, what); };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(std::string("cannot stat: ") + std::strerror(e));
    }
    const uint64_t fileSize = uint64_t(st.st_size);
    if (fileSize < 8) {
        ::close(fd);
        fail("truncated: " + std::to_string(fileSize) + " bytes, shorter than the 8-byte header length");
    }
    map_ = std::make_shared<Mapping>();
    map_->size = size_t(fileSize);
    // Private and writable: tensors made over it may be written to by mistake without
    // faulting, and nothing reaches the file.
    map_->addr = mmap(nullptr, map_->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int mapErr = errno;
    ::close(fd);
    if (map_->addr == MAP_FAILED) fail(std::string("cannot map: ") + std::strerror(mapErr));

    SafetensorsHeader header =
        parseSafetensorsHeader(static_cast<const unsigned char*>(map_->addr), fileSize, path);
    dataOffset_ = header.dataOffset;
    tensors_ = std::move(header.tensors);
    metadata_ = std::move(header.metadata);
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (!t) throw Error(path_ + ": no tensor \"" + name + "\"");
    const DtypeEntry* dt = findDtype(t->dtype);
    char* p = static_cast<char*>(map_->addr) + dataOffset_ + t->begin;
    auto options = torch::TensorOptions().dtype(dt->type).device(torch::kCPU);
    if (reinterpret_cast<uintptr_t>(p) % dt->size != 0) {
        // Misaligned element type: reinterpret through a byte tensor and copy.
        auto raw = torch::from_blob(p, {int64_t(t->end - t->begin)}, torch::TensorOptions().dtype(torch::kUInt8));
        auto out = torch::empty(t->shape, options);
        // An empty tensor has no storage: memcpy's pointers must not be null, even for 0 bytes.
        if (t->end > t->begin) std::memcpy(out.data_ptr(), raw.data_ptr(), t->end - t->begin);
        return out;
    }
    std::shared_ptr<Mapping> keep = map_;
    return torch::from_blob(p, t->shape, [keep](void*) mutable { keep.reset(); }, options);
}

Checkpoint Checkpoint::open(const std::string& folder) {
    const fs::path dir(folder);
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    Checkpoint c;
    if (fs::exists(index)) {
        std::map<std::string, size_t> fileIndex;
        for (auto& [tensor, file] : parseSafetensorsIndex(readFile(index, kMaxIndexBytes), index.string())) {
            auto f = fileIndex.find(file);
            if (f == fileIndex.end()) {
                fs::path shard = dir / file;
                if (!fs::exists(shard))
                    throw Error(index.string() + ": tensor " + excerpt(tensor, 120) + " is in shard " +
                                excerpt(file, 120) + ", which does not exist");
                c.files_.push_back(std::make_shared<SafetensorsFile>(shard.string()));
                f = fileIndex.emplace(file, c.files_.size() - 1).first;
            }
            if (!c.files_[f->second]->find(tensor))
                throw Error(index.string() + ": tensor " + excerpt(tensor, 120) + " is listed in shard " +
                            excerpt(file, 120) + " but that file does not contain it");
            c.where_[tensor] = f->second;
        }
        return c;
    }
    if (fs::exists(single)) {
        c.files_.push_back(std::make_shared<SafetensorsFile>(single.string()));
        for (const auto& t : c.files_[0]->tensors()) c.where_[t.name] = 0;
        return c;
    }
    for (const char* pickle : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth"}) {
        if (fs::exists(dir / pickle))
            throw Error((dir / pickle).string() +
                        ": pickle checkpoints are refused because loading one can run arbitrary code; convert "
                        "the model to safetensors first (in Python: model.save_pretrained(dir, "
                        "safe_serialization=True))");
    }
    throw Error(folder + ": no model.safetensors or model.safetensors.index.json");
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    for (const auto& [name, file] : where_) out.push_back(name);
    return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw Error("checkpoint has no tensor \"" + name + "\"");
    return *files_[it->second]->find(name);
}

const std::string& Checkpoint::fileOf(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw Error("checkpoint has no tensor \"" + name + "\"");
    return files_[it->second]->path();
}

torch::Tensor Checkpoint::tensor(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw Error("checkpoint has no tensor \"" + name + "\"");
    return files_[it->second]->tensor(name);
}

void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::vector<std::pair<std::string, torch::Tensor>> sorted;
    sorted.reserve(tensors.size());
    std::set<std::string> seen;
    for (const auto& [name, t] : tensors) {
        if (name == "__metadata__" || name.empty()) throw Error(path + ": invalid tensor name \"" + name + "\"");
        if (!seen.insert(name).second) throw Error(path + ": tensor \"" + name + "\" given twice");
        if (!t.defined()) throw Error(path + ": tensor \"" + name + "\" is undefined");
        sorted.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
    }
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    json header = json::object();
    json meta = json::object();
    meta["format"] = "pt";
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
    uint64_t offset = 0;
    for (const auto& [name, t] : sorted) {
        uint64_t n = uint64_t(t.numel()) * uint64_t(t.element_size());
        json shape = json::array();
        for (auto d : t.sizes()) shape.push_back(d);
        header[name] = {{"dtype", safetensorsDtypeName(t.scalar_type())}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');

    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
        unsigned char len[8];
        uint64_t n = text.size();
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
        out.write(reinterpret_cast<const char*>(len), 8);
        out.write(text.data(), std::streamsize(text.size()));
        for (const auto& [name, t] : sorted)
            out.write(static_cast<const char*>(t.data_ptr()), std::streamsize(t.numel() * t.element_size()));
        out.flush();
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            throw Error(path + ": write failed (disk full?)");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw Error(path + ": cannot rename the written file into place (" + ec.message() + ")");
    }
}

}  // namespace dpowb::model
