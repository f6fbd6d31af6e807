// dpowb commands on the project file: init, import, export, list, stats, label, adjudicate,
// annotation-mode.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include <utf8proc.h>

#include "cli.h"
#include "common/error.h"
#include "common/error_text.h"
#include "project_file.h"
#include "store/analytics.h"
#include "store/formats.h"
#include "store/output_guard.h"
#include "store/project.h"

namespace dpowb::cli {
namespace {

using nlohmann::ordered_json;
using namespace dpowb::store;

void rejectUnknownOptions(const Args& args) {
    auto unused = args.unused();
    if (!unused.empty()) throw UsageError{"unknown option " + unused.front()};
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

void removeProjectFiles(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}

Progress terminalProgress(const char* verb) {
    Progress p;
    p.cancel = &interrupted();
    if (stderrIsTerminal()) {
        p.report = [verb](int64_t done, int64_t total, const std::string&) {
            if (total > 0 && done == total) std::fprintf(stderr, "\r\033[K");
            else std::fprintf(stderr, "\r%s: %lld records", verb, static_cast<long long>(done));
        };
    }
    return p;
}

// At most `max` characters of `s` on one line, "..." when cut. A character is what the user
// sees as one (a grapheme cluster: "é" written as e + accent, a flag, a family emoji), so a
// cut never splits one; invalid UTF-8 bytes count one each and pass through unchanged.
std::string oneLine(const std::string& s, size_t max) {
    std::string out;
    size_t characters = 0;
    utf8proc_int32_t previous = -1, state = 0;
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    size_t i = 0;
    while (i < s.size()) {
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t n = utf8proc_iterate(bytes + i, utf8proc_ssize_t(s.size() - i), &cp);
        if (n <= 0) n = 1, cp = -1;  // an invalid byte: one character of its own
        const bool startsCharacter = previous < 0 || cp < 0 || utf8proc_grapheme_break_stateful(previous, cp, &state);
        if (startsCharacter) {
            if (characters == max) return out + "...";
            ++characters;
        }
        if (cp == '\n' || cp == '\t' || cp == '\r') out += ' ';
        else out.append(s, i, size_t(n));
        previous = cp;
        if (cp < 0) state = 0;
        i += size_t(n);
    }
    return out;
}

std::optional<VerdictFilter> parseVerdictFilter(const std::string& v) {
    if (v == "any") return VerdictFilter::Any;
    if (v == "unlabelled" || v == "unlabeled" || v == "none") return VerdictFilter::Unlabelled;
    if (v == "labelled" || v == "labeled") return VerdictFilter::Labelled;
    if (v == "unresolved") return VerdictFilter::Unresolved;
    auto verdict = parseVerdict(v);
    if (!verdict) return std::nullopt;
    switch (*verdict) {
        case Verdict::A: return VerdictFilter::A;
        case Verdict::B: return VerdictFilter::B;
        case Verdict::Tie: return VerdictFilter::Tie;
        case Verdict::BothBad: return VerdictFilter::BothBad;
        case Verdict::Skip: return VerdictFilter::Skip;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- init

int runInit(Args& args) {
    const std::string& db = args.positional(0, "DB");
    bool demo = args.has("demo");
    rejectUnknownOptions(args);
    if (exists(db)) throw Error(db + ": already exists; not overwriting it (remove it or pick another name)");
    const auto slash = db.rfind('/');
    const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : db.substr(0, slash);
    if (!exists(folder))
        throw Error(db + ": the folder " + folder + " does not exist; create it first (mkdir -p " + folder + ")");
    try {
        Project project = Project::create(db);
        if (demo) {
            ImportResult r = addDemoPairs(project);
            std::cerr << "created " << db << " with " << r.inserted << " demo pairs (" << r.labelled << " labelled)\n";
        } else {
            std::cerr << "created " << db << "\n";
        }
    } catch (...) {
        removeProjectFiles(db);  // nothing half-made stays behind
        throw;
    }
    return kOk;
}

// ---------------------------------------------------------------- import

int runImport(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const std::vector<std::string> files(args.positional().begin() + 1, args.positional().end());
    ImportOptions options;
    options.format = args.get("format", "auto");
    options.split = args.get("split", "train");
    options.source = args.get("source", "");
    try {
        options.map = parseColumnMap(args.get("map", ""));
    } catch (const Error& e) {
        throw UsageError{e.what()};
    }
    bool json = args.has("json");
    rejectUnknownOptions(args);
    bool knownFormat = false;
    for (const auto& f : importFormats()) knownFormat |= f == options.format;
    if (!knownFormat) throw UsageError{"unknown --format \"" + options.format + "\""};
    if (options.split.empty()) throw UsageError{"--split must not be empty"};
    Project project = openProject(db);
    options.progress = terminalProgress("importing");
    // All files in one transaction: a bad record in any file leaves the project as it was, so
    // a shell glob never half-imports a folder.
    std::vector<ImportResult> results;
    try {
        Project::Transaction tx(project);
        for (const auto& file : files) results.push_back(importFile(project, file, options));
        tx.commit();
    } catch (const InputError& e) {
        // One line: what is wrong and where, and (with several files) that none was imported.
        std::string line = e.what();
        if (files.size() > 1)
            line += " (nothing imported from the " + std::to_string(files.size()) +
                    " files: they go in together or not at all)";
        std::cerr << ::dpowb::oneLine(line) << "\n";
        return kFailure;
    }
    for (size_t i = 0; i < files.size(); ++i) {
        const ImportResult& r = results[i];
        std::cerr << "imported " << files[i] << " (format " << r.format << "): " << r.records << " records, " << r.inserted
                  << " new pairs, " << r.duplicates << " duplicates, " << r.labelled << " labelled, " << r.labelRows
                  << " label rows added (" << r.merged << " existing pairs gained history)\n";
        if (json)
            std::cout << ordered_json{{"file", files[i]},
                                      {"format", r.format},
                                      {"records", r.records},
                                      {"inserted", r.inserted},
                                      {"duplicates", r.duplicates},
                                      {"labelled", r.labelled},
                                      {"label_rows", r.labelRows},
                                      {"merged", r.merged}}
                             .dump()
                      << "\n";
    }
    return kOk;
}

// ---------------------------------------------------------------- export

int runExport(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const std::string& file = args.positional(1, "FILE");
    ExportOptions options;
    options.format = args.get("format", "trl");
    options.split = args.get("split", "");
    options.labeledOnly = args.has("labeled-only") || args.has("labelled-only");
    rejectUnknownOptions(args);
    bool knownFormat = false;
    for (const auto& f : exportFormats()) knownFormat |= f == options.format;
    if (!knownFormat) throw UsageError{"unknown --format \"" + options.format + "\" (export writes trl, trl-conversational or pairs)"};
    checkProjectPath(db);
    // Before the project opens: the checks compare the target with the file as it is.
    const std::string target = checkExportTarget(file, db);
    Project project = Project::open(db);
    options.progress = terminalProgress("exporting");
    int64_t n = exportFile(project, target, options);
    std::cerr << "wrote " << n << " records to " << (file == "-" ? std::string("standard output") : file) << " (format "
              << options.format << ")\n";
    return kOk;
}

// ---------------------------------------------------------------- list

int runList(Args& args) {
    const std::string& db = args.positional(0, "DB");
    PairQuery q;
    q.split = args.get("split", "");
    q.source = args.get("source", "");
    q.search = args.get("search", "");
    std::string verdict = args.get("verdict", "any");
    q.limit = args.getInt("limit", -1);
    q.offset = args.getInt("offset", 0);
    q.annotator = args.get("annotator", "");
    bool json = args.has("json");
    rejectUnknownOptions(args);
    auto filter = parseVerdictFilter(verdict);
    if (!filter)
        throw UsageError{"--verdict: expected a, b, tie, both_bad, skip, labelled, unlabelled, unresolved or any, got \"" +
                         verdict + "\""};
    q.verdict = *filter;
    if (q.limit < -1) throw UsageError{"--limit must be 0 or more"};
    Project project = openProject(db);
    // Page through the pairs so that listing a million of them never holds them all.
    const int64_t page = 2000;
    int64_t remaining = q.limit;
    PairQuery pq = q;
    for (;;) {
        pq.limit = remaining < 0 ? page : std::min(page, remaining);
        if (pq.limit == 0) break;
        auto pairs = project.pairs(pq);
        for (const auto& p : pairs) {
            if (json) {
                ordered_json j;
                j["id"] = p.id;
                if (p.isChat()) {
                    ordered_json msgs = ordered_json::array();
                    for (const auto& m : p.promptMessages) msgs.push_back({{"role", m.role}, {"content", m.content}});
                    j["prompt"] = msgs;
                } else {
                    j["prompt"] = p.prompt;
                }
                j["response_a"] = p.responseA;
                j["response_b"] = p.responseB;
                j["label"] = p.verdict ? ordered_json(toString(*p.verdict)) : ordered_json(nullptr);
                j["split"] = p.split;
                j["source"] = p.source;
                j["metadata"] = ordered_json::parse(p.metadataJson, nullptr, false);
                std::cout << j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
            } else {
                std::string prompt = p.isChat() ? p.promptMessages.back().content : p.prompt;
                std::cout << p.id << "\t" << p.split << "\t" << (p.verdict ? toString(*p.verdict) : "-") << "\t"
                          << oneLine(prompt, 60) << "\t" << oneLine(p.responseA, 40) << "\t" << oneLine(p.responseB, 40)
                          << "\n";
            }
        }
        if (int64_t(pairs.size()) < pq.limit) break;
        pq.offset += int64_t(pairs.size());
        if (remaining > 0) remaining -= int64_t(pairs.size());
    }
    return kOk;
}

// ---------------------------------------------------------------- stats

// A JSON number, or null where the statistic is undefined (NaN).
ordered_json number(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

ordered_json proportionJson(const Proportion& p) {
    return ordered_json{{"k", p.k}, {"n", p.n}, {"share", number(p.share)}, {"ci95_low", number(p.low)},
                        {"ci95_high", number(p.high)}};
}

ordered_json labelingJson(const LabelAnalytics& a) {
    ordered_json j;
    ordered_json bias = proportionJson(a.leftBetter);
    bias["warning"] = a.positionBias;
    j["left_better"] = bias;
    ordered_json annotators = ordered_json::array();
    for (const auto& s : a.annotators)
        annotators.push_back({{"annotator", s.annotator},
                              {"labels", s.total()},
                              {"a", s.a},
                              {"b", s.b},
                              {"tie", s.tie},
                              {"both_bad", s.bothBad},
                              {"skip", s.skip},
                              {"first_at", s.firstAt},
                              {"last_at", s.lastAt},
                              {"active_hours", s.activeHours},
                              {"labels_per_hour", number(s.labelsPerHour)},
                              {"left_better", proportionJson(s.leftBetter)}});
    j["annotators"] = annotators;
    j["labels_last_hour"] = a.labelsLastHour;
    j["labels_last_day"] = a.labelsLastDay;
    j["labels_per_hour"] = number(a.labelsPerHour);
    ordered_json agreement;
    agreement["raters"] = a.raters;
    agreement["pairs_with_several"] = a.pairsWithSeveral;
    agreement["cohen_kappa"] = number(a.cohenKappa);
    agreement["cohen_kappa_pairs"] = a.kappaPairs;
    agreement["krippendorff_alpha"] = number(a.krippendorffAlpha);
    ordered_json dis = ordered_json::array();
    for (const auto& d : a.disagreements) {
        ordered_json v = ordered_json::object();
        for (const auto& [name, verdict] : d.verdicts) v[name] = verdict;
        dis.push_back({{"pair_id", d.pairId},
                       {"verdicts", v},
                       {"adjudicated", d.adjudicated.empty() ? ordered_json(nullptr) : ordered_json(d.adjudicated)},
                       {"verdict", d.verdict.empty() ? ordered_json(nullptr) : ordered_json(d.verdict)}});
    }
    agreement["disagreements"] = dis;
    j["agreement"] = agreement;
    return j;
}

std::string percent(double share) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * share);
    return buf;
}

void printLabeling(const LabelAnalytics& a) {
    const Proportion& p = a.leftBetter;
    if (p.n == 0) {
        std::cout << "position bias: no a/b labels given in the labeling view yet\n";
    } else {
        std::cout << (a.positionBias ? "warning: position bias: " : "position bias: ") << percent(p.share)
                  << " of " << p.n << " a/b verdicts chose the left side (95% CI " << percent(p.low) << "-"
                  << percent(p.high) << ")";
        if (a.positionBias) std::cout << "; beyond 60/40: the side, not the text, may be deciding";
        std::cout << "\n";
    }
    for (const auto& s : a.annotators) {
        std::cout << "annotator " << (s.annotator.empty() ? "(none)" : s.annotator) << ": " << s.total() << " labels (a "
                  << s.a << ", b " << s.b << ", tie " << s.tie << ", both_bad " << s.bothBad << ", skip " << s.skip << ")";
        if (std::isfinite(s.labelsPerHour)) std::cout << ", " << int64_t(std::lround(s.labelsPerHour)) << " per hour";
        std::cout << "\n";
    }
    if (a.raters.size() >= 2) {
        std::cout << "agreement: " << a.pairsWithSeveral << " pairs judged by " << a.raters.size() << " annotators";
        char buf[64];
        if (std::isfinite(a.cohenKappa)) {
            std::snprintf(buf, sizeof buf, "%.3f", a.cohenKappa);
            std::cout << ", Cohen's kappa " << buf << " (" << a.kappaPairs << " pairs)";
        }
        if (std::isfinite(a.krippendorffAlpha)) {
            std::snprintf(buf, sizeof buf, "%.3f", a.krippendorffAlpha);
            std::cout << ", Krippendorff's alpha " << buf;
        }
        size_t open = 0;
        for (const auto& d : a.disagreements) open += d.adjudicated.empty();
        std::cout << "; " << a.disagreements.size() << " disagreements, " << open << " not adjudicated\n";
        // One line per disagreement: the pair, each annotator's verdict, the adjudication and
        // the verdict training uses (docs/ANALYTICS.md, "Several annotators").
        for (const auto& d : a.disagreements) {
            std::cout << "  pair " << d.pairId << ":";
            for (const auto& [name, verdict] : d.verdicts) std::cout << " " << (name.empty() ? "(none)" : name) << "=" << verdict;
            if (!d.adjudicated.empty()) std::cout << "; adjudicated " << d.adjudicated;
            std::cout << "; training verdict " << (d.verdict.empty() ? "none (unresolved)" : d.verdict) << "\n";
        }
    }
}

int runStats(Args& args) {
    const std::string& db = args.positional(0, "DB");
    bool json = args.has("json");
    rejectUnknownOptions(args);
    Project project = openProject(db);
    Stats s = project.stats();
    const LabelAnalytics a = labelAnalytics(project);
    if (json) {
        ordered_json j;
        j["pairs"] = s.pairs;
        j["labelled"] = s.labelled;
        j["skipped"] = s.skipped;
        j["unlabelled"] = s.unlabelled;
        j["unresolved"] = s.unresolved;
        j["annotation_mode"] = toString(project.annotationMode());
        ordered_json split = ordered_json::object(), verdict = ordered_json::object(), source = ordered_json::object();
        for (const auto& [k, n] : s.bySplit) split[k] = n;
        for (const auto& [k, n] : s.byVerdict) verdict[k] = n;
        for (const auto& [k, n] : s.bySource) source[k] = n;
        j["by_split"] = split;
        j["by_verdict"] = verdict;
        j["by_source"] = source;
        j["prompts_in_both_splits"] = s.promptsInBothSplits;
        j["labeling"] = labelingJson(a);
        std::cout << j.dump() << "\n";
        return kOk;
    }
    std::cout << "pairs       " << s.pairs << "\n"
              << "labelled    " << s.labelled << "\n"
              << "skipped     " << s.skipped << "\n"
              << "unlabelled  " << s.unlabelled << "\n";
    const AnnotationMode mode = project.annotationMode();
    if (isConsensus(mode))
        std::cout << "unresolved  " << s.unresolved << " (annotators disagree, no majority, not adjudicated)\n"
                  << "annotation  " << toString(mode) << "\n";
    std::cout << "by split:  ";
    for (const auto& [k, n] : s.bySplit) std::cout << " " << k << " " << n;
    std::cout << "\nby verdict:";
    for (const auto& [k, n] : s.byVerdict) std::cout << " " << k << " " << n;
    std::cout << "\nby source: ";
    for (const auto& [k, n] : s.bySource) std::cout << " " << (k.empty() ? "(none)" : k) << " " << n;
    std::cout << "\n";
    if (s.promptsInBothSplits > 0)
        std::cout << "warning: " << s.promptsInBothSplits
                  << " prompts appear in both split train and split test: evaluation on them measures memorisation\n";
    else
        std::cout << "prompts in both splits: 0\n";
    printLabeling(a);
    return kOk;
}

// ---------------------------------------------------------------- label

int runLabel(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const std::string& idText = args.positional(1, "PAIR_ID");
    const std::string& verdictText = args.positional(2, "VERDICT");
    LabelOptions options;
    options.strength = int(args.getInt("strength", 1));
    options.rationale = args.get("rationale", "");
    options.annotator = args.get("annotator", "");
    rejectUnknownOptions(args);
    int64_t id = 0;
    try {
        size_t used = 0;
        id = std::stoll(idText, &used);
        if (used != idText.size() || id <= 0) throw std::invalid_argument("bad");
    } catch (const std::exception&) {
        throw UsageError{"PAIR_ID: expected a positive integer, got \"" + idText + "\""};
    }
    bool undo = verdictText == "undo";
    auto verdict = parseVerdict(verdictText);
    if (!undo && !verdict)
        throw UsageError{"VERDICT: expected a, b, tie, both_bad (or both-bad), skip or undo, got \"" + verdictText + "\""};
    if (options.strength < 1 || options.strength > 2) throw UsageError{"--strength: expected 1 or 2"};
    Project project = openProject(db);
    if (!project.pair(id)) throw Error(db + ": no pair with id " + std::to_string(id));
    const bool blind = project.annotationMode() == AnnotationMode::Blind;
    if (undo) {
        auto l = project.undo(id, options.annotator);
        if (!l) throw Error("pair " + std::to_string(id) + " has no label to undo" +
                            (isConsensus(project.annotationMode()) ? " by " + (options.annotator.empty() ? std::string("you") : options.annotator) : ""));
        // Blind mode: what stands of one's own; otherwise the pair's verdict afterwards.
        std::optional<Verdict> after = blind ? project.verdictsFor(id, options.annotator).mine : l->verdict;
        std::cout << id << " " << (after ? toString(*after) : "unlabelled") << "\n";
    } else {
        auto l = project.label(id, *verdict, options);
        std::cout << id << " " << toString(*l.verdict) << "\n";
    }
    return kOk;
}

int64_t pairIdArgument(const std::string& idText) {
    try {
        size_t used = 0;
        const int64_t id = std::stoll(idText, &used);
        if (used == idText.size() && id > 0) return id;
    } catch (const std::exception&) {
    }
    throw UsageError{"PAIR_ID: expected a positive integer, got \"" + idText + "\""};
}

// ---------------------------------------------------------------- adjudicate

int runAdjudicate(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const int64_t id = pairIdArgument(args.positional(1, "PAIR_ID"));
    const std::string& verdictText = args.positional(2, "VERDICT");
    LabelOptions options;
    options.adjudication = true;
    options.annotator = args.get("adjudicator", "");
    options.rationale = args.get("rationale", "");
    rejectUnknownOptions(args);
    const bool undo = verdictText == "undo";
    auto verdict = parseVerdict(verdictText);
    if (!undo && (!verdict || *verdict == Verdict::Skip))
        throw UsageError{"VERDICT: expected a, b, tie, both_bad (or both-bad) or undo, got \"" + verdictText + "\""};
    Project project = openProject(db);
    if (!project.pair(id)) throw Error(db + ": no pair with id " + std::to_string(id));
    if (!isConsensus(project.annotationMode()))
        std::cerr << "note: annotation mode is single, where the latest label decides anyway; "
                     "`dpowb annotation-mode " << db << " consensus` makes the annotators' majority the rule\n";
    if (undo) {
        if (!project.undo(id, options.annotator, true)) throw Error("pair " + std::to_string(id) + " has no adjudication to undo");
    } else {
        project.label(id, *verdict, options);
    }
    const auto v = project.pair(id)->verdict;
    std::cout << id << " " << (v ? toString(*v) : "unresolved") << "\n";
    return kOk;
}

// ---------------------------------------------------------------- annotation-mode

int runAnnotationMode(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const std::string& modeText = args.positional(1, "MODE");
    rejectUnknownOptions(args);
    Project project = openProject(db);
    if (modeText == "show") {
        std::cout << toString(project.annotationMode()) << "\n";
        return kOk;
    }
    auto mode = parseAnnotationMode(modeText);
    if (!mode) throw UsageError{"MODE: expected single, consensus, blind or show, got \"" + modeText + "\""};
    project.setAnnotationMode(*mode);
    const Stats s = project.stats();
    std::cout << toString(*mode) << ": " << s.labelled << " labelled, " << s.unresolved << " unresolved, " << s.skipped
              << " skipped, " << s.unlabelled << " unlabelled\n";
    return kOk;
}

// ---------------------------------------------------------------- registration

std::string formatList(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

DPOWB_COMMAND({"init", "create a project file (--demo: with the bundled demo pairs)",
               "usage: dpowb init DB [--demo]\n\n"
               "Creates the project file DB (SQLite). Fails, touching nothing, if DB exists.\n\n"
               "  --demo   fill it with the bundled demo set: movie-review sentence beginnings with a\n"
               "           positive (preferred) and a negative continuation; 2,000 labelled train\n"
               "           pairs, 200 labelled test pairs and 300 unlabelled pairs\n",
               {"demo"},
               {"DB"},
               runInit});

DPOWB_COMMAND({"import", "import preference pairs from JSONL, .jsonl.gz, a JSON array, CSV or Parquet",
               "usage: dpowb import DB FILE... [--format F] [--map FIELD=COLUMN,...] [--split S] [--source NAME] [--json]\n\n"
               "Adds the pairs of every FILE to the project DB in one transaction, all files\n"
               "together: a malformed record in any of them fails the whole import with FILE:LINE\n"
               "and the field, and DB stays as it was (no file is half-imported, none is skipped).\n"
               "Pairs already in the project (same prompt and responses) are skipped.\n\n"
               "  --format F     " + formatList(importFormats()) + "\n"
               "                 (default auto: detected from the first record; .csv files are CSV,\n"
               "                 Parquet files are recognised by their first bytes)\n"
               "  --map FIELD=COLUMN,...  read COLUMN as FIELD before the format is detected, e.g.\n"
               "                 --map prompt=question,chosen=answer_good,rejected=answer_bad\n"
               "  --split S      split for records that carry none (default train)\n"
               "  --source NAME  source recorded on the pairs (default import:FORMAT)\n"
               "  --json         print the counts as JSON on stdout, one line per file\n\n"
               "Labelled formats (trl, trl-conversational, hh-rlhf, ultrafeedback, openai,\n"
               "llamafactory, llamafactory-v1, stack-exchange-paired) arrive with verdict a: chosen\n"
               "is stored as response A. Arena's winner maps to a, b, tie or both_bad. pairs/csv\n"
               "take an optional label column. Implicit prompts are cut as TRL's extract_prompt\n"
               "cuts them: prompt + response is the original text.\n",
               {"json"},
               {"DB", "FILE..."},
               runImport});

DPOWB_COMMAND({"export", "export pairs as TRL JSONL or the full-fidelity pairs format",
               "usage: dpowb export DB FILE [--format F] [--split S] [--labeled-only]\n\n"
               "  --format F       trl (default): {prompt, chosen, rejected} text\n"
               "                   trl-conversational: the same keys as message lists\n"
               "                   pairs: every pair with label, split, source and metadata;\n"
               "                   export -> import -> export gives the same bytes\n"
               "  --split S        only pairs of this split (default: all)\n"
               "  --labeled-only   pairs: only pairs with a current verdict\n\n"
               "trl and trl-conversational write the pairs whose current verdict is a or b.\n"
               "FILE ending in .gz is compressed. The file appears only when complete; - writes to\n"
               "standard output. A symbolic link is written through to its target. Refused: the\n"
               "project file itself, any other SQLite file, folders and devices.\n",
               {"labeled-only", "labelled-only"},
               {"DB", "FILE"},
               runExport});

DPOWB_COMMAND({"list", "list pairs with their ids",
               "usage: dpowb list DB [--json] [--split S] [--verdict V] [--limit N] [--offset N]\n"
               "                  [--source NAME] [--search TEXT] [--annotator NAME]\n\n"
               "One pair per line: ID, split, verdict, prompt, response A, response B (tab-separated,\n"
               "shortened); --json writes one JSON object per pair instead.\n\n"
               "  --verdict V   a, b, tie, both_bad, skip, labelled, unlabelled, unresolved or any (default)\n"
               "  --annotator N the verdict filter applies to N's own latest label (\"unlabelled\": not\n"
               "                yet labelled by N); unresolved is the pair's state whoever asks, and\n"
               "                the verdict column stays the pair's\n"
               "  --search T    full-text search in prompts and responses\n",
               {"json"},
               {"DB"},
               runList});

DPOWB_COMMAND({"stats", "count pairs by label state, split and source",
               "usage: dpowb stats DB [--json]\n\n"
               "--json prints {\"pairs\", \"labelled\", \"skipped\", \"unlabelled\", \"by_split\",\n"
               "\"by_verdict\", \"by_source\", \"labeling\"}; labelled counts current verdicts a/b/tie/both_bad.\n"
               "\"labeling\": position bias (share of a/b verdicts given to the left side, with a 95%\n"
               "Wilson interval; a warning beyond 60/40), each annotator's verdict mix and labels per\n"
               "hour, and, where pairs carry labels of two or more annotators, their agreement (Cohen's\n"
               "kappa for two, Krippendorff's alpha for more) and the pairs they disagree on, each with\n"
               "every annotator's verdict, the adjudication (or null) and the training verdict (null:\n"
               "unresolved). \"unresolved\" counts pairs without a majority (consensus and blind modes).\n",
               {"json"},
               {"DB"},
               runStats});

DPOWB_COMMAND({"label", "label a pair (a, b, tie, both_bad, skip) or undo its last label",
               "usage: dpowb label DB PAIR_ID VERDICT [--strength 1|2] [--rationale TEXT] [--annotator NAME]\n\n"
               "VERDICT is a, b, tie, both_bad (both-bad), skip, or undo. Labels are appended to the\n"
               "pair's history; undo appends a row that restores the verdict before the last label\n"
               "(in consensus and blind modes: withdraws the annotator's own latest label).\n"
               "--annotator defaults to $USER. Prints the pair id and its verdict afterwards (in blind\n"
               "mode after an undo: your own).\n",
               {},
               {"DB", "PAIR_ID", "VERDICT"},
               runLabel});

DPOWB_COMMAND({"adjudicate", "decide a pair the annotators disagree on (or undo the decision)",
               "usage: dpowb adjudicate DB PAIR_ID VERDICT [--adjudicator NAME] [--rationale TEXT]\n\n"
               "VERDICT is a, b, tie, both_bad, or undo. The adjudication is kept as a label row marked\n"
               "as one; in consensus and blind modes it is the pair's training verdict whatever the\n"
               "annotators said, until undone (the annotators' labels stay). `dpowb stats DB` lists the\n"
               "disagreements. --adjudicator defaults to $USER. Prints the pair id and its verdict.\n",
               {},
               {"DB", "PAIR_ID", "VERDICT"},
               runAdjudicate});

DPOWB_COMMAND({"annotation-mode", "how labels from several annotators make a pair's verdict",
               "usage: dpowb annotation-mode DB single|consensus|blind|show\n\n"
               "  single     the latest label, whoever gave it, is the verdict (the default)\n"
               "  consensus  each annotator's latest label is a vote: the verdict is the one given by\n"
               "             more than half of those who judged the pair, or the adjudication;\n"
               "             otherwise the pair is unresolved and left out of training\n"
               "  blind      consensus, and the label view hides the others' verdicts on a pair until\n"
               "             you have labelled it\n"
               "Switching recomputes every pair's verdict from its labels; no label is added or lost.\n",
               {},
               {"DB", "MODE"},
               runAnnotationMode});

}  // namespace
}  // namespace dpowb::cli
