// A Hugging Face cache in huggingface_hub's own layout, for the suites that list it: a file's
// content in blobs/<sha256>, the snapshot's entry a relative link to it, refs/BRANCH a file
// holding the revision. Snapshots are made from the real checkpoint and tokenizer of tests/data.
#pragma once

#include <QByteArray>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QString>

namespace dpowb::test {

inline const QString kCacheCheckpoint = QStringLiteral(DPOWB_TEST_DATA "/train/step/policy");
inline const QString kCacheTokenizer = QStringLiteral(DPOWB_TEST_DATA "/model/merge_tokenizer");

inline QByteArray readBytes(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

inline bool writeBytes(const QString& path, const QByteArray& content) {
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(content) == content.size();
}

// One file of a snapshot of the repository folder `repo` (HUB/models--ORG--NAME).
inline bool addCachedFile(const QString& repo, const QString& revision, const QString& name, const QByteArray& content) {
    const QString blob = QString::fromLatin1(QCryptographicHash::hash(content, QCryptographicHash::Sha256).toHex());
    const QString blobPath = repo + "/blobs/" + blob;
    if (!QFileInfo::exists(blobPath) && !writeBytes(blobPath, content)) return false;
    QDir().mkpath(repo + "/snapshots/" + revision);
    return QFile::link("../../blobs/" + blob, repo + "/snapshots/" + revision + "/" + name);
}

// A snapshot holding the checkpoint's weights, the given config.json and the tokenizer.
inline bool addCachedCheckpoint(const QString& repo, const QString& revision, const QByteArray& config) {
    return addCachedFile(repo, revision, "config.json", config) &&
           addCachedFile(repo, revision, "model.safetensors", readBytes(kCacheCheckpoint + "/model.safetensors")) &&
           addCachedFile(repo, revision, "tokenizer.json", readBytes(kCacheTokenizer + "/tokenizer.json")) &&
           addCachedFile(repo, revision, "tokenizer_config.json", readBytes(kCacheTokenizer + "/tokenizer_config.json"));
}

}  // namespace dpowb::test
