// A "Downloaded" button for a model field: its menu lists the models of the user's Hugging Face
// cache (model/hf_cache.h) with their architecture, size and weights, and choosing one puts the
// snapshot folder in the field, so nobody types a snapshot hash. The cache is read on a worker
// thread when the button is made and again each time the menu opens (a download finished in
// between appears); the menu shows what the last read found.
#pragma once

#include <QString>
#include <QToolButton>
#include <vector>

#include "model/hf_cache.h"

class QMenu;

namespace dpowb::ui {

class CachedModelsButton : public QToolButton {
    Q_OBJECT
public:
    // hubCache "" = model::huggingFaceHubCache() (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface/hub).
    explicit CachedModelsButton(QWidget* parent = nullptr, const QString& hubCache = QString());

    QString hubCache() const { return cache_; }
    void setHubCache(const QString& hubCache);  // and reads it
    void reload();                              // reads the cache again (on a worker thread)
    bool isLoading() const { return loading_; }
    const std::vector<model::CachedModel>& models() const { return models_; }  // usable ones
    QMenu* modelMenu() const { return menu_; }

Q_SIGNALS:
    void chosen(const QString& snapshotFolder);
    void loaded();  // the menu shows a fresh read of the cache

private:
    void fillMenu();

    QString cache_;
    QMenu* menu_;
    std::vector<model::CachedModel> models_;
    int unusable_ = 0;
    bool loading_ = false;
    bool again_ = false;  // a reload was asked while one ran
};

// "qwen2, 494.0 M parameters, 942.3 MiB": a cached model's line in the menu.
QString describeCachedModel(const model::CachedModel& m);

}  // namespace dpowb::ui
