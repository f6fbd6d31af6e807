#include "pair_view.h"

#include <QEvent>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollBar>
#include <QSplitter>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QToolButton>
#include <QVBoxLayout>

#include "theme.h"
#include "word_diff.h"

namespace dpowb::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QString countText(const std::string& utf8) {
    qint64 chars = 0;
    for (unsigned char c : utf8) chars += (c & 0xC0) != 0x80;
    // The built-in byte tokenizer maps every UTF-8 byte to one token.
    return QObject::tr("%L1 chars · %L2 tokens").arg(chars).arg(qint64(utf8.size()));
}

QFrame* makeCard(QWidget* parent, QLabel** title, QLabel** meta, QTextBrowser** browser,
                 QHBoxLayout** headOut = nullptr) {
    auto* card = new QFrame(parent);
    card->setObjectName(QStringLiteral("card"));
    auto* lay = new QVBoxLayout(card);
    lay->setContentsMargins(12, 10, 12, 6);
    lay->setSpacing(6);
    auto* head = new QHBoxLayout;
    *title = new QLabel(card);
    (*title)->setObjectName(QStringLiteral("cardTitle"));
    (*title)->setTextFormat(Qt::RichText);
    *meta = new QLabel(card);
    (*meta)->setObjectName(QStringLiteral("cardMeta"));
    // The counts give way first when the card is narrow (the title and key chips stay whole),
    // so the header does not widen the pair view at the pair list's expense.
    (*meta)->setMinimumWidth(1);  // below its text's width when it must (clipped)
    (*meta)->setToolTip(QObject::tr("Characters, and tokens of the built-in byte tokenizer (one per UTF-8 byte)"));
    head->addWidget(*title);
    head->addStretch(1);
    head->addWidget(*meta);
    lay->addLayout(head);
    if (headOut) *headOut = head;
    auto* line = new QFrame(card);
    line->setFrameShape(QFrame::HLine);
    line->setStyleSheet(QStringLiteral("color:#eef0f3;"));
    lay->addWidget(line);
    *browser = new QTextBrowser(card);
    (*browser)->setOpenExternalLinks(true);
    (*browser)->document()->setDocumentMargin(6);
    lay->addWidget(*browser, 1);
    return card;
}

}  // namespace

void setMarkdownStyled(QTextDocument* doc, const QString& markdown) {
    doc->setMarkdown(markdown);
    for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
        QTextBlockFormat f = b.blockFormat();
        if (f.hasProperty(QTextFormat::BlockCodeFence) || f.hasProperty(QTextFormat::BlockCodeLanguage) ||
            f.nonBreakableLines()) {
            f.setBackground(QColor(0xf3, 0xf4, 0xf6));
            f.setLeftMargin(std::max<qreal>(f.leftMargin(), 6));
            QTextCursor c(b);
            c.setBlockFormat(f);
        }
    }
}

PairView::PairView(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    vsplit_ = new QSplitter(Qt::Vertical, this);
    vsplit_->setChildrenCollapsible(false);
    vsplit_->setHandleWidth(8);

    QLabel* promptTitle = nullptr;
    QFrame* promptCard = makeCard(vsplit_, &promptTitle, &promptMeta_, &prompt_);
    promptTitle->setText(tr("Prompt"));
    vsplit_->addWidget(promptCard);

    auto* hsplit = new QSplitter(Qt::Horizontal, vsplit_);
    hsplit->setChildrenCollapsible(false);
    hsplit->setHandleWidth(8);
    for (int s = 0; s < 2; ++s) {
        QHBoxLayout* head = nullptr;
        card_[s] = makeCard(hsplit, &title_[s], &meta_[s], &browser_[s], &head);
        hsplit->addWidget(card_[s]);
        browser_[s]->installEventFilter(this);
        browser_[s]->viewport()->installEventFilter(this);
        title_[s]->setText(s == Left ? tr("Left") : tr("Right"));
        // The key chips are buttons too: a click labels as the key does. They take no
        // focus, so a click leaves the keyboard where it was.
        const QString digit = s == Left ? QStringLiteral("1") : QStringLiteral("2");
        for (int strength = 1; strength <= 2; ++strength) {
            const QString key = strength == 1 ? digit : QStringLiteral("⇧") + digit;
            const QString what = strength == 1 ? tr("better") : tr("much");
            auto* chip = new QToolButton(card_[s]);
            chip->setObjectName(QStringLiteral("keyChip"));
            chip->setText(QStringLiteral("%1  %2").arg(key, what));
            chip->setToolTip(tr("%1 response is %2 (key %3)")
                                 .arg(s == Left ? tr("Left") : tr("Right"),
                                      strength == 1 ? tr("better") : tr("much better"), key));
            chip->setFocusPolicy(Qt::NoFocus);
            chip->setCursor(Qt::PointingHandCursor);
            chip->setStyleSheet(QStringLiteral(
                "QToolButton#keyChip { background:#eef1f4; color:#3d4650; border:1px solid #cfd5dc;"
                " border-radius:4px; padding:1px 6px; font-weight:600; }"
                "QToolButton#keyChip:hover { background:#dde7f3; border-color:#9db7d5; }"
                "QToolButton#keyChip:pressed { background:#c9d9ec; }"));
            connect(chip, &QToolButton::clicked, this, [this, s, strength] {
                if (hasPair()) Q_EMIT choiceClicked(Side(s), strength);
            });
            chip_[s][strength - 1] = chip;
            head->insertWidget(1 + (strength - 1), chip);
        }
        head->insertSpacing(1, 8);
    }
    vsplit_->addWidget(hsplit);
    vsplit_->setStretchFactor(0, 1);
    vsplit_->setStretchFactor(1, 3);
    vsplit_->setSizes({130, 520});
    outer->addWidget(vsplit_);

    connect(browser_[Left]->verticalScrollBar(), &QScrollBar::valueChanged, this,
            [this] { syncScroll(browser_[Left], browser_[Right]); });
    connect(browser_[Right]->verticalScrollBar(), &QScrollBar::valueChanged, this,
            [this] { syncScroll(browser_[Right], browser_[Left]); });
}

QTextBrowser* PairView::responseBrowser(Side side) const { return browser_[side]; }

char PairView::storedSide(Side side) const {
    if (side == Left) return shownLeft_;
    return shownLeft_ == 'a' ? 'b' : 'a';
}

QString PairView::responseText(Side side) const {
    return qs(storedSide(side) == 'a' ? pair_.responseA : pair_.responseB);
}

void PairView::showPair(const store::Pair& pair, char shownLeft) {
    const bool samePair = pair.id == pairId_ && shownLeft == shownLeft_ &&
                          pair.responseA == pair_.responseA && pair.responseB == pair_.responseB &&
                          pair.prompt == pair_.prompt && pair.promptMessages == pair_.promptMessages;
    pair_ = pair;
    pairId_ = pair.id;
    shownLeft_ = shownLeft == 'b' ? 'b' : 'a';
    if (!samePair) render();  // a refresh of the same pair keeps the scroll position
}

void PairView::clear() {
    pair_ = store::Pair{};
    pairId_ = 0;
    prompt_->clear();
    promptMeta_->clear();
    for (int s = 0; s < 2; ++s) {
        browser_[s]->clear();
        meta_[s]->clear();
    }
}

void PairView::setDiffEnabled(bool on) {
    if (diff_ == on) return;
    diff_ = on;
    if (pairId_) render();
}

void PairView::render() {
    // Prompt: plain text as Markdown, or the conversation turn by turn.
    if (pair_.isChat()) {
        QString md;
        std::string all;
        for (const auto& m : pair_.promptMessages) {
            QString role = qs(m.role);
            if (!role.isEmpty()) role[0] = role[0].toUpper();
            md += QStringLiteral("**%1**\n\n%2\n\n").arg(role, qs(m.content));
            all += m.content;
        }
        setMarkdownStyled(prompt_->document(), md);
        promptMeta_->setText(tr("%n message(s) · ", nullptr, int(pair_.promptMessages.size())) + countText(all));
    } else {
        setMarkdownStyled(prompt_->document(), qs(pair_.prompt));
        promptMeta_->setText(countText(pair_.prompt));
    }

    const std::string& leftRaw = shownLeft_ == 'a' ? pair_.responseA : pair_.responseB;
    const std::string& rightRaw = shownLeft_ == 'a' ? pair_.responseB : pair_.responseA;
    meta_[Left]->setText(countText(leftRaw));
    meta_[Right]->setText(countText(rightRaw));
    if (diff_) {
        const WordDiff d = diffWords(qs(leftRaw), qs(rightRaw));
        const QString wrap = QStringLiteral("<div style=\"white-space:pre-wrap;\">%1</div>");
        browser_[Left]->setHtml(wrap.arg(diffToHtml(d.left, theme::diffLeftColor())));
        browser_[Right]->setHtml(wrap.arg(diffToHtml(d.right, theme::diffRightColor())));
    } else {
        setMarkdownStyled(browser_[Left]->document(), qs(leftRaw));
        setMarkdownStyled(browser_[Right]->document(), qs(rightRaw));
    }
    for (int s = 0; s < 2; ++s) browser_[s]->verticalScrollBar()->setValue(0);
    prompt_->verticalScrollBar()->setValue(0);
}

void PairView::syncScroll(QTextBrowser* from, QTextBrowser* to) {
    if (syncing_) return;
    syncing_ = true;
    // Proportional: the two responses rarely have the same height.
    const QScrollBar* a = from->verticalScrollBar();
    QScrollBar* b = to->verticalScrollBar();
    if (a->maximum() > 0)
        b->setValue(int(double(a->value()) / a->maximum() * b->maximum() + 0.5));
    syncing_ = false;
}

bool PairView::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::FocusIn || event->type() == QEvent::MouseButtonPress) {
        for (int s = 0; s < 2; ++s) {
            if (watched == browser_[s] || watched == browser_[s]->viewport()) {
                focusedSide_ = Side(s);
                for (int t = 0; t < 2; ++t)
                    card_[t]->setStyleSheet(t == s ? QStringLiteral("QFrame#card{border:1px solid #9db7d5;}")
                                                   : QString());
            }
        }
    }
    return QWidget::eventFilter(watched, event);
}

}  // namespace dpowb::ui
