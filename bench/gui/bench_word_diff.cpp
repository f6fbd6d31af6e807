// The pair view's word diff on large inputs, with the pair view's default cell budget:
// milliseconds per diff (median of 5) for texts with nothing in common and for texts that
// differ in one word in 100, and whether the budget made it approximate. One JSON line per case.
#include <QElapsedTimer>
#include <QString>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "word_diff.h"

namespace {

double medianMs(const QString& a, const QString& b, bool* approximate) {
    std::vector<double> ms;
    for (int round = 0; round < 5; ++round) {
        QElapsedTimer t;
        t.start();
        const auto d = dpowb::ui::diffWords(a, b);
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
        *approximate = d.approximate;
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

void report(const char* name, int words, const QString& a, const QString& b) {
    bool approximate = false;
    const double ms = medianMs(a, b, &approximate);
    std::printf("{\"case\":\"%s\",\"words\":%d,\"approximate\":%s,\"ms\":%.2f}\n", name, words,
                approximate ? "true" : "false", ms);
}

}  // namespace

int main() {
    for (int words : {1000, 3000, 10000}) {
        QString a, b, c;
        for (int i = 0; i < words; ++i) {
            a += QStringLiteral("w%1 ").arg(i);
            b += QStringLiteral("v%1 ").arg(i);
            c += (i % 100 == 50 ? QStringLiteral("x%1 ") : QStringLiteral("w%1 ")).arg(i);
        }
        report("disjoint", words, a, b);
        report("one word in 100 changed", words, a, c);
    }
    return 0;
}
