// Tokenizer encoding speed, single thread, on two corpora of ~20 MB each: the stress text of the
// parity tests repeated, and generated English prose. Writes the corpora as JSONL documents so
// that bench/bench_tokenizer_hf.py measures the Hugging Face library on exactly the same input.
//
//   bench_tokenizer [--out DIR] [--mb N] [NAME=TOKENIZER_JSON ...]
//   RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false $VENV/bin/python bench/bench_tokenizer_hf.py
//       --corpus DIR NAME=TOKENIZER_JSON ...     (one command; $VENV: scripts/install-deps.sh's environment)
//
// Without NAME=PATH arguments it uses the fetched references (scripts/fetch-references.sh).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Documents of about 8 KB, cut at line ends, as a user's corpus would be fed in.
std::vector<std::string> documents(const std::string& text) {
    std::vector<std::string> docs;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = std::min(text.size(), pos + 8192);
        if (end < text.size()) {
            size_t nl = text.find('\n', end);
            end = nl == std::string::npos ? text.size() : nl + 1;
        }
        docs.push_back(text.substr(pos, end - pos));
        pos = end;
    }
    return docs;
}

std::string stressCorpus(const std::string& stressFile, size_t bytes) {
    std::ifstream in(stressFile);
    std::string line, once;
    while (std::getline(in, line)) once += json::parse(line)["text"].get<std::string>() + "\n";
    std::string out;
    while (out.size() < bytes) out += once;
    return out;
}

std::string proseCorpus(size_t bytes) {
    static const char* words[] = {
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
        "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
        "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
        "who", "so", "no", "model", "training", "preference", "reward", "policy", "reference", "language", "human",
        "feedback", "optimization", "gradient", "learning", "sample", "response", "chosen", "rejected", "label",
        "dataset", "evaluation", "accuracy", "margin", "temperature", "probability", "distribution", "between",
        "through", "however", "therefore", "because", "although", "experiment", "results", "significant",
        "performance", "improvement", "approach", "method", "algorithm", "parameter", "network", "transformer",
        "attention", "sequence", "token", "vocabulary", "it's", "don't", "we've", "they're", "isn't", "Smith",
        "London", "January", "Monday", "government", "university", "children", "information", "development"};
    std::mt19937 rng(12345);
    std::uniform_int_distribution<size_t> word(0, std::size(words) - 1);
    std::uniform_int_distribution<int> len(6, 24), roll(0, 99), num(0, 99999);
    std::string out;
    while (out.size() < bytes) {
        int sentences = 3 + roll(rng) % 6;
        for (int s = 0; s < sentences; ++s) {
            int n = len(rng);
            for (int k = 0; k < n; ++k) {
                std::string w = words[word(rng)];
                if (k == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
                int r = roll(rng);
                if (r < 3) w = std::to_string(num(rng));
                out += w;
                if (k + 1 < n) out += (r >= 90 && r < 96) ? ", " : (r == 96 ? "; " : " ");
            }
            out += roll(rng) < 10 ? "? " : ". ";
        }
        out.back() = '\n';
        out += "\n";
    }
    return out;
}

void writeJsonl(const fs::path& path, const std::vector<std::string>& docs) {
    std::ofstream out(path, std::ios::binary);
    for (const auto& d : docs) out << json({{"text", d}}).dump() << '\n';
}

}  // namespace

int main(int argc, char** argv) {
    fs::path outDir = fs::temp_directory_path() / "dpowb-bench-text";
    size_t mb = 20;
    std::vector<std::pair<std::string, std::string>> tokenizers;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--out" && i + 1 < argc) outDir = argv[++i];
        else if (a == "--mb" && i + 1 < argc) mb = std::stoul(argv[++i]);
        else if (auto eq = a.find('='); eq != std::string::npos) tokenizers.emplace_back(a.substr(0, eq), a.substr(eq + 1));
        else {
            std::cerr << "usage: bench_tokenizer [--out DIR] [--mb N] [NAME=TOKENIZER_JSON ...]\n";
            return 2;
        }
    }
    // CMake compiles with absolute source paths, so the project root is two levels above this file.
    const std::string source = fs::path(__FILE__).parent_path().parent_path().string();
    if (tokenizers.empty()) {
        const std::string refs = source + "/.cache/references/";
        tokenizers = {{"qwen3", refs + "qwen3/tokenizer.json"},
                      {"llama3", refs + "llama3/tokenizer.json"},
                      {"mistral", refs + "llama2/tokenizer.json"},
                      {"gpt2", source + "/tests/data/text/gpt2/tokenizer.json"}};
    }
    fs::create_directories(outDir);
    const size_t bytes = mb * 1000 * 1000;
    std::vector<std::pair<std::string, std::vector<std::string>>> corpora = {
        {"stress", documents(stressCorpus(source + "/tests/data/text/stress.jsonl", bytes))},
        {"prose", documents(proseCorpus(bytes))}};
    for (const auto& [name, docs] : corpora) writeJsonl(outDir / (name + ".jsonl"), docs);
    std::printf("corpora written to %s\n", outDir.string().c_str());

    for (const auto& [name, path] : tokenizers) {
        if (!fs::exists(path)) {
            std::printf("%-8s skipped: %s is absent (run scripts/fetch-references.sh)\n", name.c_str(), path.c_str());
            continue;
        }
        auto t0 = std::chrono::steady_clock::now();
        auto tok = dpowb::text::Tokenizer::fromFile(path);
        double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (const auto& [corpus, docs] : corpora) {
            size_t total = 0, ids = 0;
            std::clock_t cpu0 = std::clock();
            auto start = std::chrono::steady_clock::now();
            for (const auto& d : docs) {
                ids += tok->encode(d).size();
                total += d.size();
            }
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            // CPU time too: on a shared machine the wall clock also counts other processes.
            double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
            std::printf("%-8s %-7s %6.1f MB: wall %6.2f s = %6.2f MB/s, cpu %6.2f s = %6.2f MB/s  (%zu ids, load %.2f s)\n",
                        name.c_str(), corpus.c_str(), total / 1e6, s, total / 1e6 / s, cpu, total / 1e6 / cpu, ids, load);
            std::fflush(stdout);
        }
    }
    return 0;
}
