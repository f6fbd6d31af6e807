#include "store/types.h"

#include <cctype>

namespace dpowb::store {

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}
}  // namespace

const char* toString(Verdict v) {
    switch (v) {
        case Verdict::A: return "a";
        case Verdict::B: return "b";
        case Verdict::Tie: return "tie";
        case Verdict::BothBad: return "both_bad";
        case Verdict::Skip: return "skip";
    }
    return "?";
}

std::optional<Verdict> parseVerdict(std::string_view text) {
    std::string s = lower(text);
    if (s == "a") return Verdict::A;
    if (s == "b") return Verdict::B;
    if (s == "tie") return Verdict::Tie;
    if (s == "both_bad" || s == "both-bad") return Verdict::BothBad;
    if (s == "skip") return Verdict::Skip;
    return std::nullopt;
}

const char* toString(AnnotationMode m) {
    switch (m) {
        case AnnotationMode::Single: return "single";
        case AnnotationMode::Consensus: return "consensus";
        case AnnotationMode::Blind: return "blind";
    }
    return "?";
}

std::optional<AnnotationMode> parseAnnotationMode(std::string_view text) {
    std::string s = lower(text);
    if (s == "single") return AnnotationMode::Single;
    if (s == "consensus") return AnnotationMode::Consensus;
    if (s == "blind") return AnnotationMode::Blind;
    return std::nullopt;
}

const char* toString(RunStatus s) {
    switch (s) {
        case RunStatus::Running: return "running";
        case RunStatus::Finished: return "finished";
        case RunStatus::Failed: return "failed";
        case RunStatus::Cancelled: return "cancelled";
        case RunStatus::Interrupted: return "interrupted";
    }
    return "?";
}

std::optional<RunStatus> parseRunStatus(std::string_view text) {
    std::string s = lower(text);
    if (s == "running") return RunStatus::Running;
    if (s == "finished") return RunStatus::Finished;
    if (s == "failed") return RunStatus::Failed;
    if (s == "cancelled") return RunStatus::Cancelled;
    if (s == "interrupted") return RunStatus::Interrupted;
    return std::nullopt;
}

}  // namespace dpowb::store
