// Word-level diff of two texts, for highlighting what differs between two responses.
// A longest-common-subsequence over word tokens (words, runs of whitespace, single
// punctuation marks), after trimming the common prefix and suffix. Inputs too large for the
// quadratic table are reported with their differing middle marked as changed wholesale, so
// the GUI never stalls on a pathological pair.
#pragma once

#include <QString>
#include <QVector>

namespace dpowb::ui {

struct DiffToken {
    QString text;
    bool changed = false;  // not part of the common subsequence
    bool isSpace = false;  // whitespace run: never highlighted on its own
};

struct WordDiff {
    QVector<DiffToken> left;
    QVector<DiffToken> right;
    bool approximate = false;  // the middle was too large for an exact LCS
};

// Splits into tokens: maximal runs of letters/digits/underscore, runs of whitespace, and
// every other character on its own.
QVector<QString> tokenizeWords(const QString& text);

// `maxCells` bounds the LCS table (rows × columns of the trimmed middle).
WordDiff diffWords(const QString& left, const QString& right, qint64 maxCells = 16'000'000);

// HTML (escaped, whitespace preserved) of one side with changed tokens wrapped in
// <span style=...> using the given background colour.
QString diffToHtml(const QVector<DiffToken>& tokens, const QString& highlightColor);

}  // namespace dpowb::ui
