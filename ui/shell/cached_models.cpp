#include "cached_models.h"

#include <QAction>
#include <QCoreApplication>
#include <QFutureWatcher>
#include <QLocale>
#include <QMenu>
#include <QtConcurrent/QtConcurrentRun>

namespace dpowb::ui {

namespace {

struct CacheRead {
    std::vector<model::CachedModel> usable;
    int unusable = 0;
};

CacheRead readCache(const std::string& cache) {
    CacheRead r;
    for (auto& m : model::listCachedModels(cache)) {
        if (m.usable()) r.usable.push_back(std::move(m));
        else ++r.unusable;
    }
    return r;
}

QString countText(int64_t n) {
    if (n >= 1'000'000'000) return QString::number(double(n) / 1e9, 'f', 2) + QStringLiteral(" B");
    if (n >= 1'000'000) return QString::number(double(n) / 1e6, 'f', 1) + QStringLiteral(" M");
    if (n >= 1'000) return QString::number(double(n) / 1e3, 'f', 1) + QStringLiteral(" k");
    return QString::number(n);
}

}  // namespace

QString describeCachedModel(const model::CachedModel& m) {
    const QLocale locale;
    return QCoreApplication::translate("CachedModelsButton", "%1, %2 parameters, %3")
        .arg(QString::fromStdString(m.modelType),
             countText(m.parameters),
             locale.formattedDataSize(m.weightBytes, 1, QLocale::DataSizeTraditionalFormat));
}

CachedModelsButton::CachedModelsButton(QWidget* parent, const QString& hubCache)
    : QToolButton(parent),
      cache_(hubCache.isEmpty() ? QString::fromStdString(model::huggingFaceHubCache()) : hubCache),
      menu_(new QMenu(this)) {
    setObjectName("cachedModels");
    setText(tr("Downloaded"));
    setPopupMode(QToolButton::InstantPopup);
    setMenu(menu_);
    connect(menu_, &QMenu::aboutToShow, this, &CachedModelsButton::reload);
    fillMenu();
    reload();
}

void CachedModelsButton::setHubCache(const QString& hubCache) {
    cache_ = hubCache;
    reload();
}

void CachedModelsButton::reload() {
    if (loading_) {
        again_ = true;
        return;
    }
    loading_ = true;
    auto* watcher = new QFutureWatcher<CacheRead>(this);
    connect(watcher, &QFutureWatcher<CacheRead>::finished, this, [this, watcher] {
        watcher->deleteLater();
        loading_ = false;
        if (again_) {  // the cache changed names (or was asked again) while this read ran
            again_ = false;
            reload();
            return;
        }
        CacheRead r = watcher->result();
        models_ = std::move(r.usable);
        unusable_ = r.unusable;
        fillMenu();
        Q_EMIT loaded();
    });
    watcher->setFuture(QtConcurrent::run(readCache, cache_.toStdString()));
    if (models_.empty()) fillMenu();  // "Reading…" until the first read is done
}

void CachedModelsButton::fillMenu() {
    menu_->clear();
    setToolTip(tr("Models in the Hugging Face cache, %1").arg(cache_));
    if (models_.empty()) {
        auto* none = menu_->addAction(loading_ ? tr("Reading %1…").arg(cache_)
                                               : tr("No usable models in %1 (huggingface-cli download ORG/NAME puts them "
                                                    "there; HF_HOME or HF_HUB_CACHE moves it)")
                                                     .arg(cache_));
        none->setEnabled(false);
    }
    for (const auto& m : models_) {
        const QString path = QString::fromStdString(m.path);
        auto* a = menu_->addAction(QStringLiteral("%1    %2").arg(QString::fromStdString(m.name), describeCachedModel(m)));
        a->setToolTip(path);
        a->setData(path);
        connect(a, &QAction::triggered, this, [this, path] { Q_EMIT chosen(path); });
    }
    if (unusable_ > 0) {
        menu_->addSeparator();
        auto* note = menu_->addAction(tr("%n more the engine cannot load (dpowb list-models --all says why)", nullptr, unusable_));
        note->setEnabled(false);
    }
}

}  // namespace dpowb::ui
