#include "word_diff.h"

#include <algorithm>
#include <vector>

namespace dpowb::ui {

namespace {

enum class CharClass { Word, Space, Other };

CharClass classify(QChar c) {
    if (c.isLetterOrNumber() || c == u'_' || c.isMark()) return CharClass::Word;
    if (c.isSpace()) return CharClass::Space;
    return CharClass::Other;
}

}  // namespace

QVector<QString> tokenizeWords(const QString& text) {
    QVector<QString> tokens;
    int i = 0;
    const int n = text.size();
    while (i < n) {
        const CharClass cls = classify(text[i]);
        int j = i + 1;
        if (cls == CharClass::Other) {
            // Keep surrogate pairs together so an emoji is one token.
            if (text[i].isHighSurrogate() && j < n && text[j].isLowSurrogate()) ++j;
        } else {
            while (j < n && classify(text[j]) == cls) ++j;
        }
        tokens.push_back(text.mid(i, j - i));
        i = j;
    }
    return tokens;
}

WordDiff diffWords(const QString& leftText, const QString& rightText, qint64 maxCells) {
    const QVector<QString> a = tokenizeWords(leftText);
    const QVector<QString> b = tokenizeWords(rightText);
    WordDiff out;
    out.left.resize(a.size());
    out.right.resize(b.size());
    for (int i = 0; i < a.size(); ++i) {
        out.left[i].text = a[i];
        out.left[i].isSpace = classify(a[i][0]) == CharClass::Space;
    }
    for (int j = 0; j < b.size(); ++j) {
        out.right[j].text = b[j];
        out.right[j].isSpace = classify(b[j][0]) == CharClass::Space;
    }

    int prefix = 0;
    while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
    int suffix = 0;
    while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
           a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
        ++suffix;
    const int n = a.size() - prefix - suffix;
    const int m = b.size() - prefix - suffix;

    auto markAll = [&](int aFrom, int aTo, int bFrom, int bTo) {
        for (int i = aFrom; i < aTo; ++i) out.left[i].changed = true;
        for (int j = bFrom; j < bTo; ++j) out.right[j].changed = true;
    };
    if (n == 0 || m == 0) {
        markAll(prefix, prefix + n, prefix, prefix + m);
    } else if (qint64(n + 1) * qint64(m + 1) > maxCells) {
        out.approximate = true;
        markAll(prefix, prefix + n, prefix, prefix + m);
    } else {
        // lcs[i][j] = LCS length of a[prefix+i..] and b[prefix+j..] (suffix form, so the
        // walk below goes forward).
        const int cols = m + 1;
        std::vector<int> lcs(size_t(n + 1) * size_t(cols), 0);
        for (int i = n - 1; i >= 0; --i) {
            for (int j = m - 1; j >= 0; --j) {
                const size_t at = size_t(i) * cols + j;
                if (a[prefix + i] == b[prefix + j])
                    lcs[at] = lcs[at + cols + 1] + 1;
                else
                    lcs[at] = std::max(lcs[at + cols], lcs[at + 1]);
            }
        }
        int i = 0, j = 0;
        while (i < n && j < m) {
            if (a[prefix + i] == b[prefix + j]) {
                ++i;
                ++j;
            } else if (lcs[size_t(i + 1) * cols + j] >= lcs[size_t(i) * cols + j + 1]) {
                out.left[prefix + i].changed = true;
                ++i;
            } else {
                out.right[prefix + j].changed = true;
                ++j;
            }
        }
        markAll(prefix + i, prefix + n, prefix + j, prefix + m);
    }
    return out;
}

QString diffToHtml(const QVector<DiffToken>& tokens, const QString& highlightColor) {
    QString html;
    html.reserve(tokens.size() * 8);
    bool open = false;
    for (int k = 0; k < tokens.size(); ++k) {
        const DiffToken& t = tokens[k];
        // A space between two changed words stays inside the highlight, so a changed phrase
        // reads as one block rather than a row of islands.
        bool highlight = t.changed && !t.isSpace;
        if (t.isSpace && open && k + 1 < tokens.size() && tokens[k + 1].changed) highlight = true;
        if (highlight && !open) {
            html += QStringLiteral("<span style=\"background-color:%1;\">").arg(highlightColor);
            open = true;
        } else if (!highlight && open) {
            html += QStringLiteral("</span>");
            open = false;
        }
        QString escaped = t.text.toHtmlEscaped();
        if (t.isSpace) escaped.replace(QLatin1Char('\n'), QStringLiteral("<br/>"));
        html += escaped;
    }
    if (open) html += QStringLiteral("</span>");
    return html;
}

}  // namespace dpowb::ui
