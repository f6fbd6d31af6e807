// The project the window has open, shared by every page of the main window.
//
// It owns the GUI thread's store::Project connection. Work that takes long (loading a
// million ids, stats, import, export) opens its own connection on path() in a worker thread;
// one connection never crosses threads. Changes committed by any other connection (a worker
// of this window, a second window, the CLI, the trainer) are noticed by polling
// Project::dataVersion() once a second; the file's change counters
// (Project::changeCounters) then say which side changed: pairs and labels are announced as
// externalChange(), runs and their metrics as runsChanged(). A trainer writing metrics
// every step therefore never makes the Label page reload its pairs.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>

#include "store/project.h"

namespace dpowb::ui {

class ProjectContext : public QObject {
    Q_OBJECT
public:
    explicit ProjectContext(QObject* parent = nullptr);
    ~ProjectContext() override;

    // Opens an existing project (throws dpowb::Error with a readable message).
    void open(const QString& path);
    void close();
    bool isOpen() const { return project_ != nullptr; }
    store::Project& project();  // only while open, GUI thread only
    QString path() const { return path_; }

    // Who labels: DPOWB_ANNOTATOR, else the preference, else $USER. The same for every page
    // (currentAnnotator() for those that hold no context).
    QString annotator() const { return currentAnnotator(); }
    static QString currentAnnotator();
    void setAnnotatorPreference(const QString& name);  // "" = back to the default
    static QString annotatorPreference();

    // A per-annotator seed that decides which response of a pair is shown on the left.
    quint64 sideSeed() const;
    // 'a' or 'b': deterministic for (pair, annotator), about half of each.
    char shownLeftFor(qint64 pairId) const;

    // This window wrote something through project(): pages refresh what they show.
    void notifyLocalChange();
    // Checks data_version now (the timer does it every second).
    void checkExternalChanges();
    void setPollInterval(int ms) { poll_.setInterval(ms); }
    // Checks that the connection still stands on the project's files and holds its locks
    // (store::Project::connectionProblem); if not, closes it and opens the file again, and
    // says so with reconnected() (or connectionLost() when the file cannot be opened now).
    // Returns true when the connection was fine. Runs on every poll (once a second).
    bool verifyConnection();
    int reconnects() const { return reconnects_; }

Q_SIGNALS:
    void opened(const QString& path);
    void closed();
    void localChange();
    // Pairs, labels, pair sets or the annotation mode changed elsewhere.
    void externalChange();
    // Runs, metrics, samples, health warnings or per-pair outcomes changed (elsewhere: a
    // trainer always writes on a connection of its own).
    void runsChanged();
    // The connection had to be reopened (`why` says what happened to the old one).
    void reconnected(const QString& why);
    // It could not be reopened; the project is closed.
    void connectionLost(const QString& why, const QString& error);

private:
    std::unique_ptr<store::Project> project_;
    QString path_;
    void takeSnapshot();  // the data version and counters as they are now
    qint64 lastVersion_ = 0;
    store::Project::ChangeCounters lastCounters_;
    int reconnects_ = 0;
    QTimer poll_;
};

}  // namespace dpowb::ui
