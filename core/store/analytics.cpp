#include "store/analytics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_set>

#include "store/project_impl.h"

namespace dpowb::store {

Proportion wilsonInterval(int64_t k, int64_t n, double z) {
    Proportion p;
    p.k = k;
    p.n = n;
    if (n <= 0) {
        p.share = p.low = p.high = std::nan("");
        return p;
    }
    const double nn = double(n), phat = double(k) / nn, z2 = z * z;
    const double centre = (phat + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(phat * (1 - phat) / nn + z2 / (4 * nn * nn));
    p.share = phat;
    p.low = std::max(0.0, centre - half);
    p.high = std::min(1.0, centre + half);
    return p;
}

double cohenKappa(const std::vector<std::pair<int, int>>& ratings) {
    if (ratings.empty()) return std::nan("");
    std::map<int, double> first, second;
    double agree = 0;
    for (const auto& [x, y] : ratings) {
        first[x] += 1;
        second[y] += 1;
        if (x == y) agree += 1;
    }
    const double n = double(ratings.size());
    const double po = agree / n;
    double pe = 0;
    for (const auto& [c, count] : first) {
        auto it = second.find(c);
        if (it != second.end()) pe += (count / n) * (it->second / n);
    }
    if (pe >= 1.0) return std::nan("");
    return (po - pe) / (1 - pe);
}

double krippendorffAlphaNominal(const std::vector<std::vector<int>>& units) {
    // The coincidence matrix: each ordered pair of values within a unit adds 1/(m_u − 1).
    std::map<std::pair<int, int>, double> o;
    for (const auto& unit : units) {
        std::vector<int> values;
        for (int v : unit)
            if (v >= 0) values.push_back(v);
        const size_t m = values.size();
        if (m < 2) continue;
        for (size_t i = 0; i < m; ++i)
            for (size_t j = 0; j < m; ++j)
                if (i != j) o[{values[i], values[j]}] += 1.0 / double(m - 1);
    }
    std::map<int, double> nc;
    for (const auto& [ck, v] : o) nc[ck.first] += v;
    double n = 0;
    for (const auto& [c, v] : nc) n += v;
    if (n <= 1) return std::nan("");
    double observed = 0;  // Σ_{c≠k} o_ck
    for (const auto& [ck, v] : o)
        if (ck.first != ck.second) observed += v;
    double expected = 0;  // Σ_{c≠k} n_c·n_k
    for (const auto& [c, vc] : nc)
        for (const auto& [k, vk] : nc)
            if (c != k) expected += vc * vk;
    if (expected <= 0) return std::nan("");
    return 1.0 - (n - 1) * observed / expected;
}

namespace {

struct Row {
    int64_t id, pairId;
    std::string verdict, annotator;
    char shownLeft;
    int64_t createdAt;
};

constexpr int64_t kPauseMs = 5 * 60 * 1000;  // a longer gap between two labels is a break

int verdictIndex(const std::string& v) {
    if (v == "a") return 0;
    if (v == "b") return 1;
    if (v == "tie") return 2;
    if (v == "both_bad") return 3;
    return -1;  // skip: not a judgement
}

// Active time of a sorted list of label times: the gaps up to kPauseMs.
double activeHours(std::vector<int64_t> times) {
    std::sort(times.begin(), times.end());
    int64_t ms = 0;
    for (size_t i = 1; i < times.size(); ++i) {
        const int64_t gap = times[i] - times[i - 1];
        if (gap > 0 && gap <= kPauseMs) ms += gap;
    }
    return double(ms) / 3.6e6;
}

// Labels per hour; undefined below a minute of active labelling (a burst of scripted or
// imported labels would give absurd rates).
double rate(size_t labels, double hours) { return labels >= 2 && hours >= 1.0 / 60 ? double(labels - 1) / hours : std::nan(""); }

}  // namespace

LabelAnalytics labelAnalytics(Project& project, int64_t nowMs) {
    if (nowMs <= 0) nowMs = nowMillis();
    auto& db = project.impl().db;
    // Undo rows name the label they revert; those labels do not count.
    std::unordered_set<int64_t> reverted;
    {
        SQLite::Statement st(db, "SELECT reverts FROM labels WHERE reverts IS NOT NULL");
        while (st.executeStep()) reverted.insert(st.getColumn(0).getInt64());
    }
    std::vector<Row> rows;
    std::map<int64_t, std::string> adjudicated;
    {
        SQLite::Statement st(db,
                             "SELECT id, pair_id, verdict, annotator, shown_left, created_at, adjudication FROM labels "
                             "WHERE reverts IS NULL AND verdict IS NOT NULL ORDER BY id");
        while (st.executeStep()) {
            const int64_t id = st.getColumn(0).getInt64();
            if (reverted.count(id)) continue;
            if (st.getColumn(6).getInt()) {  // an adjudication: the latest standing one per pair
                adjudicated[st.getColumn(1).getInt64()] = st.getColumn(2).getString();
                continue;
            }
            const std::string left = st.getColumn(4).getString();
            rows.push_back(Row{id, st.getColumn(1).getInt64(), st.getColumn(2).getString(), st.getColumn(3).getString(),
                               left.empty() ? 'a' : left[0], st.getColumn(5).getInt64()});
        }
    }

    LabelAnalytics out;
    std::map<std::string, AnnotatorSummary> byAnnotator;
    std::map<std::string, std::vector<int64_t>> times;
    std::vector<int64_t> allTimes;
    int64_t left = 0, sided = 0;
    std::map<std::string, std::pair<int64_t, int64_t>> leftBy;  // annotator → (left, sided)
    // (pair, annotator) → latest verdict index; rows are in id order, so later rows overwrite.
    std::map<int64_t, std::map<std::string, int>> latest;
    for (const Row& r : rows) {
        AnnotatorSummary& s = byAnnotator[r.annotator];
        s.annotator = r.annotator;
        if (r.verdict == "a") ++s.a;
        else if (r.verdict == "b") ++s.b;
        else if (r.verdict == "tie") ++s.tie;
        else if (r.verdict == "both_bad") ++s.bothBad;
        else ++s.skip;
        s.firstAt = s.firstAt == 0 ? r.createdAt : std::min(s.firstAt, r.createdAt);
        s.lastAt = std::max(s.lastAt, r.createdAt);
        times[r.annotator].push_back(r.createdAt);
        allTimes.push_back(r.createdAt);
        if (r.createdAt >= nowMs - 3600 * 1000) ++out.labelsLastHour;
        if (r.createdAt >= nowMs - 24 * 3600 * 1000) ++out.labelsLastDay;
        // Imported labels were never shown on a screen: they say nothing about position bias.
        if ((r.verdict == "a" || r.verdict == "b") && r.annotator != "import") {
            const bool chosenLeft = r.verdict[0] == r.shownLeft;
            ++sided;
            if (chosenLeft) ++left;
            auto& lb = leftBy[r.annotator];
            ++lb.second;
            if (chosenLeft) ++lb.first;
        }
        const int v = verdictIndex(r.verdict);
        if (v >= 0) latest[r.pairId][r.annotator] = v;
        else latest[r.pairId].erase(r.annotator);  // a later skip withdraws the judgement
    }
    out.leftBetter = wilsonInterval(left, sided);
    out.positionBias = sided >= LabelAnalytics::kMinBiasLabels &&
                       (out.leftBetter.share > LabelAnalytics::kBiasBound ||
                        out.leftBetter.share < 1.0 - LabelAnalytics::kBiasBound);
    double allHours = 0;
    for (auto& [name, s] : byAnnotator) {
        s.activeHours = activeHours(times[name]);
        allHours += s.activeHours;
        s.labelsPerHour = rate(size_t(s.total()), s.activeHours);
        const auto lb = leftBy[name];
        s.leftBetter = wilsonInterval(lb.first, lb.second);
        out.annotators.push_back(s);
    }
    size_t labels = 0;
    for (const auto& s : out.annotators) labels += size_t(s.total());
    out.labelsPerHour = allHours >= 1.0 / 60 && labels >= 2 ? double(labels - out.annotators.size()) / allHours : std::nan("");

    // Agreement over the pairs that two or more annotators judged.
    std::set<std::string> raters;
    std::vector<std::pair<int64_t, const std::map<std::string, int>*>> shared;
    for (const auto& [pair, verdicts] : latest) {
        if (verdicts.size() < 2) continue;
        shared.push_back({pair, &verdicts});
        for (const auto& [name, v] : verdicts) raters.insert(name);
    }
    out.raters.assign(raters.begin(), raters.end());
    out.pairsWithSeveral = int64_t(shared.size());
    static const char* names[] = {"a", "b", "tie", "both_bad"};
    std::vector<std::vector<int>> units;
    for (const auto& [pair, verdicts] : shared) {
        std::vector<int> unit;
        for (const auto& name : out.raters) {
            auto it = verdicts->find(name);
            unit.push_back(it == verdicts->end() ? -1 : it->second);
        }
        units.push_back(unit);
        std::set<int> distinct;
        for (const auto& [name, v] : *verdicts) distinct.insert(v);
        if (distinct.size() > 1) {
            Disagreement d;
            d.pairId = pair;
            for (const auto& [name, v] : *verdicts) d.verdicts.push_back({name, names[v]});
            if (auto it = adjudicated.find(pair); it != adjudicated.end()) d.adjudicated = it->second;
            out.disagreements.push_back(std::move(d));
        }
    }
    if (!out.disagreements.empty()) {
        SQLite::Statement st(db, "SELECT coalesce(current_verdict, '') FROM pairs WHERE id = ?");
        for (auto& d : out.disagreements) {
            st.reset();
            st.bind(1, d.pairId);
            if (st.executeStep()) d.verdict = st.getColumn(0).getString();
        }
    }
    out.krippendorffAlpha = out.raters.size() >= 2 ? krippendorffAlphaNominal(units) : std::nan("");
    out.cohenKappa = std::nan("");
    if (out.raters.size() == 2) {
        std::vector<std::pair<int, int>> both;
        for (const auto& unit : units)
            if (unit[0] >= 0 && unit[1] >= 0) both.push_back({unit[0], unit[1]});
        out.kappaPairs = int64_t(both.size());
        out.cohenKappa = cohenKappa(both);
    }
    return out;
}

}  // namespace dpowb::store
