// One pair on screen: the prompt (a conversation when it is chat messages) above the two
// responses side by side, rendered as Markdown and scrolling together. Which stored response
// is on the left is decided by the caller (shownLeft) so that the position carries no hint;
// the labels say "left" and "right", never A and B.
#pragma once

#include <QWidget>

#include "store/types.h"

class QAbstractButton;
class QLabel;
class QTextBrowser;
class QSplitter;
class QTextDocument;

namespace dpowb::ui {

class PairView : public QWidget {
    Q_OBJECT
public:
    enum Side { Left = 0, Right = 1 };

    explicit PairView(QWidget* parent = nullptr);

    void showPair(const store::Pair& pair, char shownLeft);
    void clear();
    bool hasPair() const { return pairId_ != 0; }
    qint64 pairId() const { return pairId_; }
    char shownLeft() const { return shownLeft_; }
    const store::Pair& pair() const { return pair_; }

    // The raw text of the response on each side (what the annotator read).
    QString responseText(Side side) const;
    // Which stored response ('a'/'b') is on a side.
    char storedSide(Side side) const;

    void setDiffEnabled(bool on);
    bool diffEnabled() const { return diff_; }

    // The response the annotator last clicked or focused (left by default).
    Side focusedSide() const { return focusedSide_; }
    QTextBrowser* responseBrowser(Side side) const;
    QTextBrowser* promptBrowser() const { return prompt_; }
    QSplitter* splitter() const { return vsplit_; }
    // The clickable key chips in a response's header: strength 1 (better) or 2 (much better).
    QAbstractButton* chip(Side side, int strength) const { return chip_[side][strength == 2 ? 1 : 0]; }

Q_SIGNALS:
    // A key chip was clicked: the response on `side` is better (1) or much better (2).
    void choiceClicked(dpowb::ui::PairView::Side side, int strength);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void render();
    void syncScroll(QTextBrowser* from, QTextBrowser* to);

    store::Pair pair_;
    qint64 pairId_ = 0;
    char shownLeft_ = 'a';
    bool diff_ = false;
    bool syncing_ = false;
    Side focusedSide_ = Left;

    QSplitter* vsplit_ = nullptr;
    QTextBrowser* prompt_ = nullptr;
    QLabel* promptMeta_ = nullptr;
    QTextBrowser* browser_[2] = {nullptr, nullptr};
    QLabel* title_[2] = {nullptr, nullptr};
    QLabel* meta_[2] = {nullptr, nullptr};
    QWidget* card_[2] = {nullptr, nullptr};
    QAbstractButton* chip_[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};
};

// Markdown into a document, with code blocks given a tinted background (Qt's Markdown
// import marks them but draws them like body text).
void setMarkdownStyled(QTextDocument* doc, const QString& markdown);

}  // namespace dpowb::ui
