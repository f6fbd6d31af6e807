// `dpowb info` and the CUDA backend loaded at run time: switched off, loaded from the wheel
// (even without a GPU: the backend registers with ATen and reports its devices), a path that
// does not load, and --device cuda refused with the reason when no GPU is usable.
#include <QtTest>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

struct Result {
    int code;
    QByteArray out, err;
};

Result run(const QStringList& args, const QString& cudaBackend, const QByteArray& input = {}) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (cudaBackend.isEmpty()) env.remove("DPOWB_TORCH_CUDA");
    else env.insert("DPOWB_TORCH_CUDA", cudaBackend);
    p.setProcessEnvironment(env);
    p.start(DPOWB_CLI, args);
    if (!p.waitForStarted()) return {-1, {}, "did not start"};
    p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(120000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(), p.readAllStandardError()};
}

// libtorch_cuda.so beside the libtorch_cpu.so that dpowb runs on (the wheel ships both).
QString wheelBackend() {
    static const QString path = [] {
        const json j = json::parse(run({"info"}, "none").out.toStdString());
        return QString::fromStdString(j["libtorch_dir"].get<std::string>()) + "/libtorch_cuda.so";
    }();
    return path;
}

}  // namespace

class TestCliInfo : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void backend_data() {
        QTest::addColumn<QString>("backend");   // DPOWB_TORCH_CUDA ("" = unset)
        QTest::addColumn<int>("loaded");        // 1 loaded, 0 not, -1 depends on the machine
        QTest::addColumn<QString>("statusHas");
        QTest::newRow("default") << "" << -1 << "";
        QTest::newRow("switched off") << "none" << 0 << "switched off";
        QTest::newRow("the wheel's backend, forced") << wheelBackend() << 1 << "CUDA runtime";
        QTest::newRow("a path that does not load") << "/nonexistent/libtorch_cuda.so" << 0 << "did not load";
    }
    void backend() {
        QFETCH(QString, backend);
        QFETCH(int, loaded);
        QFETCH(QString, statusHas);
        if (loaded == 1 && !QFileInfo::exists(backend)) QSKIP(qPrintable(backend + " absent: a CPU-only LibTorch"));
        auto r = run({"info"}, backend);
        QVERIFY2(r.code == 0, r.err.constData());
        const json j = json::parse(r.out.toStdString());
        const QString status = QString::fromStdString(j["cuda_backend"].get<std::string>());
        if (loaded >= 0) QVERIFY2(j["cuda_backend_loaded"].get<bool>() == (loaded == 1), qPrintable(status));
        QVERIFY2(status.contains(statusHas), qPrintable(status));
        const int64_t devices = j["cuda_devices"].get<int64_t>();
        QVERIFY(devices >= 0);
        if (!j["cuda_backend_loaded"].get<bool>()) QCOMPARE(devices, int64_t(0));
        QCOMPARE(j["default_device"].get<std::string>(), std::string(devices > 0 ? "cuda" : "cpu"));
        QVERIFY(QString::fromStdString(j["libtorch"].get<std::string>()).startsWith("2."));
        QVERIFY(j["cpu_threads"].get<int>() >= 1);
    }

    // Without a usable GPU, --device cuda is refused with the reason and --device auto runs on the CPU.
    void deviceCudaWithoutGpu_data() {
        QTest::addColumn<QString>("backend");
        QTest::addColumn<QString>("reason");
        QTest::newRow("switched off") << "none" << "switched off";
        QTest::newRow("backend loaded, no GPU") << wheelBackend() << "no GPU found";
    }
    void deviceCudaWithoutGpu() {
        QFETCH(QString, backend);
        QFETCH(QString, reason);
        if (backend != "none" && !QFileInfo::exists(backend)) QSKIP("no CUDA backend in this LibTorch");
        const json info = json::parse(run({"info"}, backend).out.toStdString());
        if (info["cuda_devices"].get<int64_t>() > 0) QSKIP("this machine has a GPU");
        const QByteArray pair = R"({"prompt": "The film was", "chosen": " good", "rejected": " bad"})" "\n";
        auto r = run({"score", "--model", "builtin:tiny", "--data", "-", "--device", "cuda"}, backend, pair);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("CUDA is not available") && r.err.contains(reason.toUtf8()) && r.err.contains("--device cpu"),
                 r.err.constData());
        r = run({"score", "--model", "builtin:tiny", "--data", "-", "--device", "auto"}, backend, pair);
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.out.contains("chosen_logp"));
    }
};

QTEST_GUILESS_MAIN(TestCliInfo)
#include "tst_cli_info.moc"
