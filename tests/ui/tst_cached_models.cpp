// The model pickers' "Downloaded" menus (ui/shell/cached_models.h): the models of a Hugging
// Face cache built here in huggingface_hub's layout, offered with their architecture and size
// in the New-run form and on the Compare page; choosing one fills the field with the snapshot
// folder, which the form then inspects as any folder. A download that finishes while the window
// is open shows up the next time the menu opens.
#include <QAction>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QRadioButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "../common/hf_cache_fixture.h"
#include "cached_models.h"
#include "compare_view.h"
#include "model/inspect.h"
#include "run_form.h"
#include "store/project.h"

using namespace dpowb;
using dpowb::test::addCachedCheckpoint;
using dpowb::test::kCacheCheckpoint;
using dpowb::test::readBytes;
using dpowb::test::writeBytes;

namespace {

// The enabled entries of a menu: the models offered.
QList<QAction*> offered(QMenu* menu) {
    QList<QAction*> out;
    for (QAction* a : menu->actions())
        if (a->isEnabled() && !a->isSeparator()) out << a;
    return out;
}

bool waitLoaded(ui::CachedModelsButton* button) {
    return QTest::qWaitFor([button] { return !button->isLoading(); }, 30000);
}

}  // namespace

class TestCachedModels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void menuOffersUsableModels();
    void runFormTakesTheSnapshot();
    void comparePageTakesTheSnapshot();
    void newDownloadAppearsOnOpen();
    void emptyCacheSaysWhere();

private:
    QString snapshot(const QString& repo, const QString& revision) const {
        return hub_ + "/models--" + repo + "/snapshots/" + revision;
    }

    QTemporaryDir dir_;
    QString hub_;
    QByteArray config_;
    const QString rev_ = QStringLiteral("5d2e8c1f0a9b7c6d4e3f2a1b0c9d8e7f6a5b4c3d");
};

void TestCachedModels::initTestCase() {
    QVERIFY(dir_.isValid());
    hub_ = dir_.filePath("hub");
    config_ = readBytes(kCacheCheckpoint + "/config.json");
    QVERIFY(!config_.isEmpty());
    QVERIFY(addCachedCheckpoint(hub_ + "/models--acme--tiny-llama", rev_, config_));
    QVERIFY(writeBytes(hub_ + "/models--acme--tiny-llama/refs/main", rev_.toLatin1()));
    // Listed by huggingface_hub but not loadable here: counted below the models, not offered.
    QVERIFY(writeBytes(hub_ + "/models--acme--pickle/snapshots/" + rev_ + "/config.json", config_));
    // The pickers read the cache the way huggingface_hub finds it.
    qputenv("HF_HUB_CACHE", hub_.toUtf8());
}

void TestCachedModels::menuOffersUsableModels() {
    ui::CachedModelsButton button;
    QCOMPARE(button.hubCache(), hub_);
    QVERIFY(waitLoaded(&button));
    QCOMPARE(button.models().size(), size_t(1));
    const auto actions = offered(button.modelMenu());
    QCOMPARE(actions.size(), 1);
    const model::ModelInspection info = model::inspectModel(snapshot("acme--tiny-llama", rev_).toStdString(), false);
    const QString text = actions.front()->text();
    QVERIFY2(text.startsWith("acme/tiny-llama"), qPrintable(text));
    QVERIFY2(text.contains(QString::fromStdString(info.config.modelType)), qPrintable(text));
    QVERIFY2(text.contains(ui::describeCachedModel(button.models().front())), qPrintable(text));
    QCOMPARE(actions.front()->data().toString(), snapshot("acme--tiny-llama", rev_));
    // The folder that cannot be loaded is counted, disabled, after a separator.
    bool counted = false;
    for (QAction* a : button.modelMenu()->actions())
        counted = counted || (!a->isEnabled() && a->text().contains("1 more the engine cannot load"));
    QVERIFY(counted);
}

void TestCachedModels::runFormTakesTheSnapshot() {
    ui::RunForm form;
    form.resize(900, 900);
    form.show();
    auto* button = form.cachedModels();
    QVERIFY(button);
    QVERIFY(button->isVisible());
    QVERIFY(waitLoaded(button));
    const auto actions = offered(button->modelMenu());
    QCOMPARE(actions.size(), 1);
    actions.front()->trigger();
    auto* path = form.findChild<QLineEdit*>("modelPath");
    auto* folder = form.findChild<QRadioButton*>("modelFolder");
    QVERIFY(path && folder);
    QCOMPARE(path->text(), snapshot("acme--tiny-llama", rev_));
    QVERIFY(folder->isChecked());
    // The form inspected the snapshot as it would a folder typed in.
    QVERIFY2(form.modelInfo().ok, qPrintable(form.modelInfo().error));
    const model::ModelInspection info = model::inspectModel(path->text().toStdString());
    QCOMPARE(form.modelInfo().parameters, qint64(info.parameters));
    QCOMPARE(form.modelInfo().weightBytes, qint64(info.weightBytes));
    QCOMPARE(form.config().model, path->text().toStdString());
    // The form names the snapshot as the Hub does, not by its hash folder alone.
    QCOMPARE(form.modelInfo().hubName, QStringLiteral("acme/tiny-llama @ ") + rev_.left(12));
    QVERIFY(form.findChild<QLabel*>("modelInfo")->text().contains("acme/tiny-llama"));
}

void TestCachedModels::comparePageTakesTheSnapshot() {
    const QString project = dir_.filePath("compare.dpowb");
    store::Project::create(project.toStdString());
    ui::CompareView view(project);
    view.show();
    auto* policy = view.findChild<ui::CachedModelsButton*>("policyCached");
    auto* reference = view.findChild<ui::CachedModelsButton*>("referenceCached");
    QVERIFY(policy && reference);
    QVERIFY(waitLoaded(reference));
    const auto actions = offered(reference->modelMenu());
    QCOMPARE(actions.size(), 1);
    actions.front()->trigger();
    QCOMPARE(view.models().referencePath, snapshot("acme--tiny-llama", rev_));
    QCOMPARE(view.models().policyPath, QStringLiteral("builtin:tiny"));  // the other side as it was
}

void TestCachedModels::newDownloadAppearsOnOpen() {
    ui::CachedModelsButton button;
    QVERIFY(waitLoaded(&button));
    QCOMPARE(offered(button.modelMenu()).size(), 1);
    const QString rev = QStringLiteral("9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d");
    QVERIFY(addCachedCheckpoint(hub_ + "/models--acme--second", rev, config_));
    QSignalSpy loaded(&button, &ui::CachedModelsButton::loaded);
    Q_EMIT button.modelMenu()->aboutToShow();  // what opening the menu sends
    QVERIFY(loaded.wait(30000));
    const auto actions = offered(button.modelMenu());
    QCOMPARE(actions.size(), 2);
    QVERIFY2(actions.front()->text().startsWith("acme/second"), qPrintable(actions.front()->text()));
    QCOMPARE(actions.front()->data().toString(), snapshot("acme--second", rev));
}

void TestCachedModels::emptyCacheSaysWhere() {
    const QString empty = dir_.filePath("no-cache-here");
    ui::CachedModelsButton button(nullptr, empty);
    QVERIFY(waitLoaded(&button));
    QVERIFY(button.models().empty());
    QVERIFY(offered(button.modelMenu()).isEmpty());
    const auto all = button.modelMenu()->actions();
    QCOMPARE(all.size(), 1);
    QVERIFY2(all.front()->text().contains(empty) && all.front()->text().contains("huggingface-cli download"),
             qPrintable(all.front()->text()));
}

QTEST_MAIN(TestCachedModels)
#include "tst_cached_models.moc"
