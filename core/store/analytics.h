// Labeling analytics over a project's label history: position bias (does the screen side
// decide the verdict?), the verdict mix and labeling rate of each annotator, and — where
// pairs carry labels from two or more annotators — their agreement (Cohen's κ for two,
// Krippendorff's α for any number) with the pairs they disagree on.
//
// The statistics are plain functions (tested against the literature's worked examples);
// labelAnalytics() gathers their inputs from the project file. Qt-free, torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dpowb::store {

class Project;

// A share k/n with its Wilson score interval at z standard errors (1.96: 95 %).
struct Proportion {
    int64_t k = 0, n = 0;
    double share = 0, low = 0, high = 0;  // NaN when n = 0
};
Proportion wilsonInterval(int64_t k, int64_t n, double z = 1.959963984540054);

// Cohen's κ of two raters who rated the same items: one (rater 1, rater 2) category pair per
// item. NaN for no items, or when chance agreement is already 1 (both always say one thing).
double cohenKappa(const std::vector<std::pair<int, int>>& ratings);

// Krippendorff's α for nominal data: one row per unit with each coder's category, -1 where a
// coder gave none. Units with fewer than two values cannot be paired and do not count. NaN
// when nothing is pairable or every value is the same category (no expected disagreement).
double krippendorffAlphaNominal(const std::vector<std::vector<int>>& units);

struct AnnotatorSummary {
    std::string annotator;
    int64_t a = 0, b = 0, tie = 0, bothBad = 0, skip = 0;
    int64_t total() const { return a + b + tie + bothBad + skip; }
    int64_t firstAt = 0, lastAt = 0;  // unix milliseconds
    double activeHours = 0;          // time between consecutive labels, pauses over 5 min left out
    double labelsPerHour = 0;        // over the active time; NaN with fewer than two labels or under a minute
    Proportion leftBetter;           // this annotator's a/b verdicts given to the left side
};

struct Disagreement {
    int64_t pairId = 0;
    std::vector<std::pair<std::string, std::string>> verdicts;  // (annotator, verdict), by annotator
    std::string adjudicated;  // the standing adjudication's verdict; "" when none
    std::string verdict;      // the pair's training verdict now; "" when none (unresolved)
};

struct LabelAnalytics {
    // Position bias: a/b verdicts given in the labeling view (imported labels had no screen)
    // that chose the response shown on the left.
    Proportion leftBetter;
    bool positionBias = false;  // share outside 40-60 % with at least kMinBiasLabels labels
    static constexpr int64_t kMinBiasLabels = 20;
    static constexpr double kBiasBound = 0.6;
    std::vector<AnnotatorSummary> annotators;  // by annotator name
    int64_t labelsLastHour = 0, labelsLastDay = 0;
    double labelsPerHour = 0;  // all annotators, over their active time (NaN when unknown)

    // Agreement: each annotator's latest verdict (a, b, tie, both_bad) per pair.
    std::vector<std::string> raters;  // annotators with a verdict on a pair someone else judged too
    int64_t pairsWithSeveral = 0;     // pairs judged by two or more annotators
    int64_t kappaPairs = 0;           // pairs both raters judged (when exactly two raters)
    double cohenKappa = 0;            // exactly two raters; NaN otherwise
    double krippendorffAlpha = 0;     // two or more raters; NaN otherwise
    std::vector<Disagreement> disagreements;  // pairs whose annotators differ, by pair id
};

// Reads every label row of the project once. Undone labels do not count; a pair's labels from
// one annotator count once (the latest); adjudications are no annotator's judgement (they
// only fill Disagreement::adjudicated). `nowMs` (default: now) anchors "last hour/day".
LabelAnalytics labelAnalytics(Project& project, int64_t nowMs = 0);

}  // namespace dpowb::store
