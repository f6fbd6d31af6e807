// Bulk import speed: writes N preference pairs of about 1 KB each as TRL JSONL into a temporary
// folder, imports them into a fresh project indexing after the commit (import and index timed
// separately), then into another with the index built beside the writer (the default). A commit
// that leaves a large WAL copies it into the project file on a background thread
// (store/project.cpp): the run reports how long that takes when waited for right after.
//
// usage: bench_import [PAIRS]   (default 100000)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "store/formats.h"
#include "store/project.h"

namespace {

// Deterministic text: words drawn by a splitmix64 stream, so every run imports the same bytes.
struct Words {
    uint64_t state = 42;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::string text(size_t bytes) {
        static const char* const vocab[] = {"the", "model", "answer", "question", "because", "preference", "data",
                                            "quickly", "helpful", "honest", "résumé", "über", "train", "reward",
                                            "policy", "reference", "token", "sequence", "pair", "label"};
        std::string s;
        while (s.size() < bytes) {
            if (!s.empty()) s += ' ';
            s += vocab[next() % 20];
        }
        return s;
    }
};

double seconds(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Process CPU time: on a shared machine the wall clock also counts other people's work.
double cpuSeconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

// This thread's CPU time: the import writes on the calling thread while a reader thread parses,
// so on an idle machine the writer's CPU time is the import's critical path.
double threadCpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
    long pairs = argc > 1 ? std::atol(argv[1]) : 100000;
    if (pairs <= 0) {
        std::fprintf(stderr, "usage: bench_import [PAIRS]\n");
        return 2;
    }
    char tmpl[] = "/tmp/dpowb-bench-import-XXXXXX";
    if (!mkdtemp(tmpl)) {
        std::perror("mkdtemp");
        return 1;
    }
    std::filesystem::path dir(tmpl);
    std::string data = (dir / "pairs.jsonl").string(), db = (dir / "bench.dpowb").string();
    int rc = 0;
    try {
        Words w;
        {
            FILE* f = std::fopen(data.c_str(), "wb");
            for (long i = 0; i < pairs; ++i) {
                nlohmann::json j = {{"prompt", "#" + std::to_string(i) + " " + w.text(300)},
                                    {"chosen", w.text(350)},
                                    {"rejected", w.text(350)}};
                std::string line = j.dump() + "\n";
                std::fwrite(line.data(), 1, line.size(), f);
            }
            std::fclose(f);
        }
        double mb = double(std::filesystem::file_size(data)) / 1e6;
        std::printf("data: %ld pairs, %.1f MB (%.0f bytes per pair)\n", pairs, mb, mb * 1e6 / double(pairs));

        {
            auto t0 = std::chrono::steady_clock::now();
            double c0 = cpuSeconds();
            long n = 0;
            dpowb::store::readPairs(data, {}, [&](dpowb::store::ReadRecord&) {
                ++n;
                return true;
            });
            std::printf("parse only (the importers' reader, no project): %ld records in %.2f s wall (%.2f s CPU)\n", n,
                        seconds(t0), cpuSeconds() - c0);
        }

        // The same import twice into a fresh project: once indexing after the commit on the
        // calling thread, once with the index built beside the writer (the default).
        double serialWall = 0, serialPath = 0;
        {
            std::string db0 = (dir / "serial.dpowb").string();
            auto project = dpowb::store::Project::create(db0);
            dpowb::store::ImportOptions opt;
            opt.updateSearchIndex = false;
            auto t0 = std::chrono::steady_clock::now();
            double c0 = cpuSeconds(), w0 = threadCpuSeconds();
            auto result = dpowb::store::importFile(project, data, opt);
            double importS = seconds(t0), importCpu = cpuSeconds() - c0, writerCpu = threadCpuSeconds() - w0;
            dpowb::store::Project::waitForBackgroundCheckpoints();  // not timed: it would run beside the index
            std::printf("import, index after: %lld pairs in %.2f s wall (%.2f s CPU, %.2f s of it on the writing "
                        "thread), search index not included\n",
                        static_cast<long long>(result.inserted), importS, importCpu, writerCpu);
            t0 = std::chrono::steady_clock::now();
            c0 = cpuSeconds();
            project.updateSearchIndex();
            const double ftsS = seconds(t0), ftsCpu = cpuSeconds() - c0;
            std::printf("  then the search index (FTS5 unicode61): %.2f s wall (%.2f s CPU)\n", ftsS, ftsCpu);
            serialWall = importS + ftsS;
            serialPath = writerCpu + ftsCpu;
            std::printf("  together: %.2f s wall; critical path (writing thread + index, CPU s) %.2f; total CPU s %.2f\n",
                        serialWall, serialPath, importCpu + ftsCpu);
        }
        dpowb::store::Project::waitForBackgroundCheckpoints();  // nothing of the first import runs beside
        auto project = dpowb::store::Project::create(db);
        {
            dpowb::store::ImportOptions opt;
            auto t0 = std::chrono::steady_clock::now();
            double rowsAt = 0;  // when the last row was written: the index's copy and the commit follow
            opt.progress.report = [&](int64_t, int64_t, const std::string& phase) {
                if (phase == "search index") rowsAt = seconds(t0);
            };
            double c0 = cpuSeconds(), w0 = threadCpuSeconds();
            auto result = dpowb::store::importFile(project, data, opt);
            double importS = seconds(t0), importCpu = cpuSeconds() - c0, writerCpu = threadCpuSeconds() - w0;
            // The commit left the copy of the WAL into the file to a background thread
            // (store/project.cpp, "background checkpoints"): how long it takes when waited for.
            auto t1 = std::chrono::steady_clock::now();
            double c1 = cpuSeconds();
            dpowb::store::Project::waitForBackgroundCheckpoints();
            const double checkpointS = seconds(t1), checkpointCpu = cpuSeconds() - c1;
            std::printf("import, index beside the writer (default): %lld pairs in %.2f s wall (%.2f s CPU, %.2f s of "
                        "it on the writing thread) = %.0f pairs/s, %.1f MB/s, search index included\n",
                        static_cast<long long>(result.inserted), importS, importCpu, writerCpu,
                        double(result.inserted) / importS, mb / importS);
            std::printf("  rows written after %.2f s; waiting for the index, copying it in and committing: %.2f s\n",
                        rowsAt, importS - rowsAt);
            std::printf("  then the background checkpoint, waited for: %.2f s wall (%.2f s CPU); import + checkpoint "
                        "%.2f s wall\n",
                        checkpointS, checkpointCpu, importS + checkpointS);
            std::printf("  vs index after: %.2fx the wall time, %.2fx the writing thread's CPU\n", importS / serialWall,
                        writerCpu / serialPath);
        }

        auto t0 = std::chrono::steady_clock::now();
        dpowb::store::PairQuery q;
        q.verdict = dpowb::store::VerdictFilter::Unlabelled;
        auto n = project.countPairs(q);
        std::printf("count unlabelled (%lld): %.1f ms\n", static_cast<long long>(n), seconds(t0) * 1e3);

        t0 = std::chrono::steady_clock::now();
        q = {};
        q.search = "résumé über";
        n = project.countPairs(q);
        std::printf("full-text search hits (%lld): %.1f ms\n", static_cast<long long>(n), seconds(t0) * 1e3);

        t0 = std::chrono::steady_clock::now();
        dpowb::store::ExportOptions eo;
        auto written = dpowb::store::exportFile(project, (dir / "out.jsonl").string(), eo);
        std::printf("export trl: %lld pairs in %.2f s\n", static_cast<long long>(written), seconds(t0));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_import: %s\n", e.what());
        rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
