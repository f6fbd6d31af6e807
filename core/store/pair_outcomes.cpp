#include "store/pair_outcomes.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.h"
#include "store/project_impl.h"

namespace dpowb::store {

double implicitReward(double beta, double policyLogp, double referenceLogp) {
    return beta * (policyLogp - referenceLogp);
}

PairOutcomeRecord outcomeFromLogps(int64_t pairId, std::optional<Verdict> verdict, double beta, double policyA,
                                   double referenceA, double policyB, double referenceB, int64_t tokensA,
                                   int64_t tokensB) {
    PairOutcomeRecord r;
    r.pairId = pairId;
    const bool bChosen = verdict == Verdict::B;
    r.chosen = verdict == Verdict::A ? "a" : bChosen ? "b" : "";
    r.policyChosen = bChosen ? policyB : policyA;
    r.referenceChosen = bChosen ? referenceB : referenceA;
    r.policyRejected = bChosen ? policyA : policyB;
    r.referenceRejected = bChosen ? referenceA : referenceB;
    r.chosenTokens = bChosen ? tokensB : tokensA;
    r.rejectedTokens = bChosen ? tokensA : tokensB;
    r.chosenReward = implicitReward(beta, r.policyChosen, r.referenceChosen);
    r.rejectedReward = implicitReward(beta, r.policyRejected, r.referenceRejected);
    return r;
}

std::string outcomeSplitOf(const std::string& projectSplit) {
    if (projectSplit == "test") return "eval";
    if (projectSplit == "train") return "train";
    return "";
}

namespace {

void checkSplit(const std::string& split) {
    if (split != "eval" && split != "train")
        throw Error("unknown split \"" + split + "\" for per-pair outcomes: use eval or train");
}

bool runExists(SQLite::Database& db, int64_t runId) {
    SQLite::Statement st(db, "SELECT 1 FROM runs WHERE id = ?");
    st.bind(1, static_cast<int64_t>(runId));
    return st.executeStep();
}

std::string firstLine(const std::string& text) {
    std::string s = text.substr(0, text.find('\n'));
    if (s.size() > 200) {
        size_t cut = 200;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
        s = s.substr(0, cut) + "…";
    }
    return s;
}

std::string promptLine(const std::string& prompt, const std::string& messagesJson) {
    if (messagesJson.empty()) return firstLine(prompt);
    std::vector<Message> messages;
    try {
        messages = messagesFromJson(messagesJson);
    } catch (const std::exception&) {
        return "";
    }
    for (auto it = messages.rbegin(); it != messages.rend(); ++it)
        if (it->role == "user") return firstLine(it->content);
    return messages.empty() ? "" : firstLine(messages.back().content);
}

}  // namespace

void recordPairOutcomes(Project& project, int64_t runId, int64_t step, const std::string& split,
                        const std::string& source, const std::vector<PairOutcomeRecord>& records) {
    checkSplit(split);
    if (source != "eval" && source != "score") throw Error("unknown outcome source \"" + source + "\"");
    auto& d = project.impl();
    WriteScope tx(d);
    d.dirtyKinds |= Project::Impl::kRunsSide;  // a WITHOUT ROWID table: SQLite reports no row changes
    if (!runExists(d.db, runId)) throw Error("run " + std::to_string(runId) + " is not in the project");
    {
        SQLite::Statement del(d.db, "DELETE FROM pair_outcomes WHERE run_id = ? AND split = ? AND step = ? AND source = ?");
        del.bind(1, static_cast<int64_t>(runId));
        del.bind(2, split);
        del.bind(3, static_cast<int64_t>(step));
        del.bind(4, source);
        del.exec();
    }
    SQLite::Statement ins(d.db,
                          "INSERT OR REPLACE INTO pair_outcomes(run_id, split, step, source, pair_id, chosen, "
                          "policy_chosen, reference_chosen, policy_rejected, reference_rejected, chosen_tokens, "
                          "rejected_tokens, chosen_reward, rejected_reward) "
                          "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM pairs WHERE id = ?)");
    for (const auto& r : records) {
        ins.reset();
        ins.bind(1, static_cast<int64_t>(runId));
        ins.bind(2, split);
        ins.bind(3, static_cast<int64_t>(step));
        ins.bind(4, source);
        ins.bind(5, static_cast<int64_t>(r.pairId));
        ins.bind(6, r.chosen);
        ins.bind(7, r.policyChosen);
        ins.bind(8, r.referenceChosen);
        ins.bind(9, r.policyRejected);
        ins.bind(10, r.referenceRejected);
        ins.bind(11, static_cast<int64_t>(r.chosenTokens));
        ins.bind(12, static_cast<int64_t>(r.rejectedTokens));
        ins.bind(13, r.chosenReward);
        ins.bind(14, r.rejectedReward);
        ins.bind(15, static_cast<int64_t>(r.pairId));
        ins.exec();
    }
    tx.commit();
}

std::vector<OutcomeSnapshot> outcomeSnapshots(Project& project, int64_t runId) {
    SQLite::Statement st(project.impl().db,
                         "SELECT step, split, source, count(*) FROM pair_outcomes WHERE run_id = ? "
                         "GROUP BY split, step, source ORDER BY split, step, source");
    st.bind(1, static_cast<int64_t>(runId));
    std::vector<OutcomeSnapshot> out;
    while (st.executeStep())
        out.push_back({st.getColumn(0).getInt64(), st.getColumn(1).getString(), st.getColumn(2).getString(),
                       st.getColumn(3).getInt64()});
    return out;
}

const char* toString(OutcomeFilter f) {
    switch (f) {
        case OutcomeFilter::All: return "all";
        case OutcomeFilter::Flipped: return "flipped";
        case OutcomeFilter::Worst: return "worst";
        case OutcomeFilter::Changed: return "changed";
    }
    return "all";
}

std::optional<OutcomeFilter> parseOutcomeFilter(std::string_view text) {
    for (auto f : {OutcomeFilter::All, OutcomeFilter::Flipped, OutcomeFilter::Worst, OutcomeFilter::Changed})
        if (text == toString(f)) return f;
    return std::nullopt;
}

std::vector<DrillDownRow> filterOutcomes(std::vector<DrillDownRow> rows, OutcomeFilter filter, int64_t limit) {
    auto byMargin = [](const DrillDownRow& x, const DrillDownRow& y) {
        const double a = x.outcome.margin(), b = y.outcome.margin();
        return a != b ? a < b : x.outcome.pairId < y.outcome.pairId;
    };
    auto cut = [&]() {
        if (limit > 0 && int64_t(rows.size()) > limit) rows.resize(size_t(limit));
    };
    switch (filter) {
        case OutcomeFilter::All:
            std::sort(rows.begin(), rows.end(),
                      [](const DrillDownRow& x, const DrillDownRow& y) { return x.outcome.pairId < y.outcome.pairId; });
            break;
        case OutcomeFilter::Flipped:
            rows.erase(std::remove_if(rows.begin(), rows.end(), [](const DrillDownRow& r) { return !(r.outcome.margin() < 0); }),
                       rows.end());
            std::sort(rows.begin(), rows.end(), byMargin);
            break;
        case OutcomeFilter::Worst:
            std::sort(rows.begin(), rows.end(), byMargin);
            cut();
            break;
        case OutcomeFilter::Changed:
            rows.erase(std::remove_if(rows.begin(), rows.end(), [](const DrillDownRow& r) { return !r.change(); }),
                       rows.end());
            std::sort(rows.begin(), rows.end(), [](const DrillDownRow& x, const DrillDownRow& y) {
                const double a = std::fabs(*x.change()), b = std::fabs(*y.change());
                return a != b ? a > b : x.outcome.pairId < y.outcome.pairId;
            });
            cut();
            break;
    }
    return rows;
}

DrillDownTable loadDrillDown(Project& project, const DrillDownQuery& query) {
    checkSplit(query.split);
    auto& db = project.impl().db;
    if (!runExists(db, query.runId)) throw Error("run " + std::to_string(query.runId) + " is not in the project");
    DrillDownTable t;
    t.runId = query.runId;
    t.split = query.split;
    {
        SQLite::Statement st(db, "SELECT DISTINCT step FROM pair_outcomes WHERE run_id = ? AND split = ? ORDER BY step");
        st.bind(1, static_cast<int64_t>(query.runId));
        st.bind(2, query.split);
        while (st.executeStep()) t.steps.push_back(st.getColumn(0).getInt64());
    }
    if (t.steps.empty()) {
        if (query.step >= 0)
            throw Error("run " + std::to_string(query.runId) + " has no per-pair outcomes of split " + query.split);
        return t;
    }
    if (query.step < 0) {
        t.step = t.steps.back();
    } else if (std::find(t.steps.begin(), t.steps.end(), query.step) != t.steps.end()) {
        t.step = query.step;
    } else {
        std::string known;
        for (auto s : t.steps) known += (known.empty() ? "" : ", ") + std::to_string(s);
        throw Error("run " + std::to_string(query.runId) + " has no " + query.split + " outcomes at step " +
                    std::to_string(query.step) + ": recorded at step " + known);
    }
    t.baseStep = t.steps.front();
    // The trainer's evaluation before a score-pairs result of the same step.
    std::string source;
    {
        SQLite::Statement st(db,
                             "SELECT source FROM pair_outcomes WHERE run_id = ? AND split = ? AND step = ? "
                             "GROUP BY source ORDER BY source = 'eval' DESC, source LIMIT 1");
        st.bind(1, static_cast<int64_t>(query.runId));
        st.bind(2, query.split);
        st.bind(3, static_cast<int64_t>(t.step));
        if (st.executeStep()) source = st.getColumn(0).getString();
    }
    t.source = source;
    std::map<int64_t, double> base;
    if (t.baseStep != t.step) {
        SQLite::Statement st(db,
                             "SELECT pair_id, chosen_reward - rejected_reward, source FROM pair_outcomes "
                             "WHERE run_id = ? AND split = ? AND step = ? ORDER BY source = 'eval'");
        st.bind(1, static_cast<int64_t>(query.runId));
        st.bind(2, query.split);
        st.bind(3, static_cast<int64_t>(t.baseStep));
        while (st.executeStep()) base[st.getColumn(0).getInt64()] = st.getColumn(1).getDouble();  // eval rows last: they win
    }
    SQLite::Statement st(db,
                         "SELECT o.pair_id, o.chosen, o.policy_chosen, o.reference_chosen, o.policy_rejected, "
                         "o.reference_rejected, o.chosen_tokens, o.rejected_tokens, o.chosen_reward, o.rejected_reward, "
                         "p.current_verdict, p.split, p.prompt, p.prompt_messages "
                         "FROM pair_outcomes o JOIN pairs p ON p.id = o.pair_id "
                         "WHERE o.run_id = ? AND o.split = ? AND o.step = ? AND o.source = ? ORDER BY o.pair_id");
    st.bind(1, static_cast<int64_t>(query.runId));
    st.bind(2, query.split);
    st.bind(3, static_cast<int64_t>(t.step));
    st.bind(4, source);
    std::vector<DrillDownRow> rows;
    while (st.executeStep()) {
        DrillDownRow r;
        auto& o = r.outcome;
        o.pairId = st.getColumn(0).getInt64();
        o.chosen = st.getColumn(1).getString();
        o.policyChosen = st.getColumn(2).getDouble();
        o.referenceChosen = st.getColumn(3).getDouble();
        o.policyRejected = st.getColumn(4).getDouble();
        o.referenceRejected = st.getColumn(5).getDouble();
        o.chosenTokens = st.getColumn(6).getInt64();
        o.rejectedTokens = st.getColumn(7).getInt64();
        o.chosenReward = st.getColumn(8).getDouble();
        o.rejectedReward = st.getColumn(9).getDouble();
        if (!st.getColumn(10).isNull()) r.verdictNow = parseVerdict(st.getColumn(10).getString());
        r.projectSplit = st.getColumn(11).getString();
        r.prompt = promptLine(st.getColumn(12).getString(), st.getColumn(13).isNull() ? "" : st.getColumn(13).getString());
        if (t.baseStep == t.step) {
            r.baseMargin = o.margin();
        } else if (auto it = base.find(o.pairId); it != base.end()) {
            r.baseMargin = it->second;
        }
        rows.push_back(std::move(r));
    }
    t.pairsAtStep = int64_t(rows.size());
    t.rows = filterOutcomes(std::move(rows), query.filter, query.limit);
    return t;
}

int64_t savePairSet(Project& project, const std::string& name, int64_t runId, const std::vector<int64_t>& pairIds) {
    if (name.empty()) throw Error("a pair set needs a name");
    auto& d = project.impl();
    WriteScope tx(d);
    {
        SQLite::Statement st(d.db, "SELECT 1 FROM pairs WHERE id = ?");
        for (auto id : pairIds) {
            st.reset();
            st.bind(1, static_cast<int64_t>(id));
            if (!st.executeStep())
                throw Error("pair " + std::to_string(id) + " is not in the project: nothing was saved");
        }
    }
    int64_t setId = 0;
    {
        SQLite::Statement st(d.db, "SELECT id FROM pair_sets WHERE name = ?");
        st.bind(1, name);
        if (st.executeStep()) setId = st.getColumn(0).getInt64();
    }
    if (setId == 0) {
        SQLite::Statement st(d.db, "INSERT INTO pair_sets(name, run_id, created_at) VALUES (?, ?, ?)");
        st.bind(1, name);
        if (runId > 0) st.bind(2, static_cast<int64_t>(runId));
        else st.bind(2);
        st.bind(3, static_cast<int64_t>(nowMillis()));
        st.exec();
        setId = d.db.getLastInsertRowid();
    } else {
        SQLite::Statement del(d.db, "DELETE FROM pair_set_members WHERE set_id = ?");
        del.bind(1, static_cast<int64_t>(setId));
        del.exec();
    }
    SQLite::Statement ins(d.db, "INSERT OR IGNORE INTO pair_set_members(set_id, pair_id) VALUES (?, ?)");
    for (auto id : pairIds) {
        ins.reset();
        ins.bind(1, static_cast<int64_t>(setId));
        ins.bind(2, static_cast<int64_t>(id));
        ins.exec();
    }
    tx.commit();
    return setId;
}

std::vector<PairSetInfo> pairSets(Project& project) {
    SQLite::Statement st(project.impl().db,
                         "SELECT s.id, s.name, coalesce(s.run_id, 0), s.created_at, "
                         "(SELECT count(*) FROM pair_set_members m JOIN pairs p ON p.id = m.pair_id WHERE m.set_id = s.id) "
                         "FROM pair_sets s ORDER BY s.id");
    std::vector<PairSetInfo> out;
    while (st.executeStep()) {
        PairSetInfo i;
        i.id = st.getColumn(0).getInt64();
        i.name = st.getColumn(1).getString();
        i.runId = st.getColumn(2).getInt64();
        i.createdAt = st.getColumn(3).getInt64();
        i.pairs = st.getColumn(4).getInt64();
        out.push_back(std::move(i));
    }
    return out;
}

void deletePairSet(Project& project, int64_t setId) {
    auto& d = project.impl();
    WriteScope tx(d);
    SQLite::Statement m(d.db, "DELETE FROM pair_set_members WHERE set_id = ?");
    m.bind(1, static_cast<int64_t>(setId));
    m.exec();
    SQLite::Statement s(d.db, "DELETE FROM pair_sets WHERE id = ?");
    s.bind(1, static_cast<int64_t>(setId));
    s.exec();
    tx.commit();
}

}  // namespace dpowb::store
