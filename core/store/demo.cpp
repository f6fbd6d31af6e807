// The bundled demo data: the DPO paper's IMDb set-up in miniature. A prompt is the beginning of
// a movie-review sentence; one continuation is positive, the other negative, both built from
// templates and word lists small enough that a byte-level model of a few hundred thousand
// parameters can learn which side the rule prefers. The generator is a fixed-seed splitmix64
// with no standard-library distributions, so every machine produces the same pairs.
#include <cctype>
#include <unordered_set>

#include "store/formats.h"
#include "store/project_impl.h"

namespace dpowb::store {

namespace {

class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return size_t(next() % n); }
    template <size_t N>
    const char* pick(const char* const (&list)[N]) {
        return list[below(N)];
    }

private:
    uint64_t state_;
};

constexpr uint64_t kDemoSeed = 20230529;  // the DPO paper's arXiv date
constexpr int kTrainLabelled = 2000;
constexpr int kTestLabelled = 200;
constexpr int kTrainUnlabelled = 300;

// Every prompt ends where a judgement is expected.
const char* const kPrompts[] = {
    "The acting in this film was",
    "I watched this movie last night and it was",
    "Honestly, the story felt",
    "The soundtrack of this movie sounded",
    "From the first scene, the film was",
    "The ending of the movie was",
    "My friends and I agreed the plot was",
    "The cinematography in this picture looked",
    "For a low-budget production, it was",
    "The lead performance was",
    "The dialogue in this film was",
    "Overall, I thought this movie was",
    "The special effects in this sequel were",
    "After all the hype, the film was",
    "The characters in this story were",
    "The pacing of the second half was",
    "As a fan of the genre, I found it",
    "The director's latest work is",
    "The script for this comedy was",
    "This documentary about the ocean was",
    "Compared to the book, the adaptation was",
    "The last twenty minutes were",
};

const char* const kAdverbs[] = {"truly", "simply", "really", "absolutely", "quite", "utterly"};

const char* const kPositive[] = {"wonderful", "brilliant", "delightful", "superb",   "charming",
                                 "excellent", "beautiful", "fantastic",  "moving",   "gripping",
                                 "clever",    "stunning",  "memorable",  "heartfelt", "hilarious",
                                 "magnificent", "touching", "inspiring"};
const char* const kNegative[] = {"terrible", "boring",  "awful",    "dull",         "clumsy", "bland",
                                 "dreadful", "tedious", "lifeless", "forgettable",  "painful", "messy",
                                 "disappointing", "lazy", "pointless", "horrible",  "annoying", "shallow"};
const char* const kPositiveVerbs[] = {"loved", "enjoyed", "adored", "treasured"};
const char* const kNegativeVerbs[] = {"hated", "disliked", "regretted", "endured"};
// Words outside the adjective lists that also carry the rule.
const char* const kPositiveExtra[] = {"best", "worth", "happily"};
const char* const kNegativeExtra[] = {"worst", "waste", "never"};

const char* article(const std::string& word) {
    return std::string("aeiou").find(word[0]) != std::string::npos ? "an" : "a";
}

// A continuation of 5-10 words with two judgement words of one polarity.
std::string continuation(SplitMix64& rng, bool positive) {
    const char* adv = rng.pick(kAdverbs);
    const char* w1 = positive ? rng.pick(kPositive) : rng.pick(kNegative);
    const char* w2 = positive ? rng.pick(kPositive) : rng.pick(kNegative);
    for (int guard = 0; guard < 8 && std::string(w1) == w2; ++guard)
        w2 = positive ? rng.pick(kPositive) : rng.pick(kNegative);
    const char* verb = positive ? rng.pick(kPositiveVerbs) : rng.pick(kNegativeVerbs);
    std::string a = w1, b = w2;
    switch (rng.below(5)) {
        case 0: return " " + std::string(adv) + " " + a + " and " + b + ", I " + verb + " it.";
        case 1: return " " + a + " from start to finish, " + article(b) + " " + b + " experience.";
        case 2: return " " + a + ", " + b + (positive ? " and worth every minute." : " and a waste of time.");
        case 3:
            return " " + std::string(adv) + " " + a +
                   (positive ? "; I would happily watch it again." : "; I would never watch it again.");
        default: return " " + a + " and " + b + (positive ? ", easily the best this year." : ", easily the worst this year.");
    }
}

template <size_t N>
bool inList(const std::string& w, const char* const (&list)[N]) {
    for (const char* x : list)
        if (w == x) return true;
    return false;
}

}  // namespace

int demoSentiment(const std::string& text) {
    int score = 0;
    std::string word;
    auto flush = [&]() {
        if (word.empty()) return;
        if (inList(word, kPositive) || inList(word, kPositiveVerbs) || inList(word, kPositiveExtra)) ++score;
        if (inList(word, kNegative) || inList(word, kNegativeVerbs) || inList(word, kNegativeExtra)) --score;
        word.clear();
    };
    for (char c : text) {
        if (std::isalpha(static_cast<unsigned char>(c)))
            word += char(std::tolower(static_cast<unsigned char>(c)));
        else
            flush();
    }
    flush();
    return score > 0 ? 1 : score < 0 ? -1 : 0;
}

ImportResult addDemoPairs(Project& project) {
    auto& d = project.impl();
    ImportResult result;
    result.format = "demo";
    SplitMix64 rng(kDemoSeed);
    std::unordered_set<std::string> seen;  // the content of each pair, so counts come out exact
    Project::Transaction tx(project);
    auto generate = [&](int count, const char* split, bool labelled) {
        int made = 0;
        while (made < count) {
            Pair p;
            p.prompt = rng.pick(kPrompts);
            bool aPositive = rng.below(2) == 0;
            std::string positive = continuation(rng, true), negative = continuation(rng, false);
            p.responseA = aPositive ? positive : negative;
            p.responseB = aPositive ? negative : positive;
            if (!seen.insert(p.prompt + "\x1f" + p.responseA + "\x1f" + p.responseB).second) continue;
            p.source = "demo";
            p.split = split;
            p.metadataJson = std::string("{\"positive\":\"") + (aPositive ? "a" : "b") + "\"}";
            std::optional<Verdict> verdict;
            if (labelled) verdict = aPositive ? Verdict::A : Verdict::B;
            bool inserted = false;
            d.insertPair(p, verdict, "demo", &inserted);
            ++result.records;
            if (inserted) {
                ++result.inserted;
                if (verdict) ++result.labelled;
            } else {
                ++result.duplicates;  // the project already held this pair
            }
            ++made;
        }
    };
    generate(kTrainLabelled, "train", true);
    generate(kTestLabelled, "test", true);
    generate(kTrainUnlabelled, "train", false);
    tx.commit();
    return result;
}

}  // namespace dpowb::store
