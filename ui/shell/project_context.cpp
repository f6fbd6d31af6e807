#include "project_context.h"

#include <QSettings>

#include "common/error.h"
#include "error_line.h"

namespace dpowb::ui {

ProjectContext::ProjectContext(QObject* parent) : QObject(parent) {
    poll_.setInterval(1000);
    connect(&poll_, &QTimer::timeout, this, &ProjectContext::checkExternalChanges);
}

ProjectContext::~ProjectContext() = default;

void ProjectContext::open(const QString& path) {
    auto project = std::make_unique<store::Project>(store::Project::open(path.toStdString()));
    close();
    project_ = std::move(project);
    path_ = path;
    takeSnapshot();
    poll_.start();
    Q_EMIT opened(path_);
}

void ProjectContext::close() {
    if (!project_) return;
    poll_.stop();
    project_.reset();
    path_.clear();
    Q_EMIT closed();
}

store::Project& ProjectContext::project() {
    if (!project_) throw Error("no project is open");
    return *project_;
}

QString ProjectContext::annotatorPreference() {
    return QSettings().value(QStringLiteral("annotator")).toString();
}

void ProjectContext::setAnnotatorPreference(const QString& name) {
    QSettings().setValue(QStringLiteral("annotator"), name.trimmed());
}

QString ProjectContext::currentAnnotator() {
    const QString env = qEnvironmentVariable("DPOWB_ANNOTATOR").trimmed();
    if (!env.isEmpty()) return env;
    const QString pref = annotatorPreference();
    if (!pref.isEmpty()) return pref;
    QString user = qEnvironmentVariable("USER");
    if (user.isEmpty()) user = qEnvironmentVariable("USERNAME");
    return user.isEmpty() ? QStringLiteral("anonymous") : user;
}

quint64 ProjectContext::sideSeed() const {
    // FNV-1a of the annotator name: stable across sessions, different between annotators.
    quint64 h = 1469598103934665603ull;
    for (char c : annotator().toUtf8()) {
        h ^= quint8(c);
        h *= 1099511628211ull;
    }
    return h;
}

char ProjectContext::shownLeftFor(qint64 pairId) const {
    // splitmix64 of (seed, id): consecutive ids give independent sides.
    quint64 z = sideSeed() + quint64(pairId) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (z & 1) ? 'b' : 'a';
}

void ProjectContext::takeSnapshot() {
    lastVersion_ = project_->dataVersion();
    lastCounters_ = project_->changeCounters();
}

void ProjectContext::notifyLocalChange() {
    // This window's own commits do not move data_version for its connection; another
    // connection's commit since the last poll does, and is announced first.
    if (project_) {
        checkExternalChanges();
        try {
            lastCounters_ = project_->changeCounters();  // its own counts are no news to it
        } catch (const std::exception&) {
        }
    }
    Q_EMIT localChange();
}

bool ProjectContext::verifyConnection() {
    if (!project_) return true;
    std::string problem;
    try {
        problem = project_->connectionProblem();
    } catch (const std::exception& e) {
        problem = e.what();
    }
    if (problem.empty()) return true;
    // Reopen from the file as it is now. Nothing is written back: the old connection holds no
    // transaction between events (every label commits at once), and closing it only drops
    // its page cache. Its files stay: this build never deletes -wal/-shm on close.
    project_.reset();
    try {
        project_ = std::make_unique<store::Project>(store::Project::open(path_.toStdString()));
        takeSnapshot();
    } catch (const std::exception& e) {
        poll_.stop();
        path_.clear();
        Q_EMIT connectionLost(errorLine(problem), errorLine(e));
        Q_EMIT closed();
        return false;
    }
    ++reconnects_;
    Q_EMIT reconnected(errorLine(problem));
    Q_EMIT externalChange();  // pages reload what they show from the reopened file
    Q_EMIT runsChanged();
    return false;
}

void ProjectContext::checkExternalChanges() {
    if (!project_) return;
    if (!verifyConnection()) return;
    store::Project::ChangeCounters now;
    try {
        const qint64 v = project_->dataVersion();
        if (v == lastVersion_) return;
        lastVersion_ = v;
        now = project_->changeCounters();
    } catch (const std::exception&) {
        return;  // a busy file: try again on the next tick
    }
    const bool pairs = now.pairs != lastCounters_.pairs, runs = now.runs != lastCounters_.runs;
    lastCounters_ = now;
    if (pairs) Q_EMIT externalChange();
    if (runs) Q_EMIT runsChanged();
}

}  // namespace dpowb::ui
