// Runs the dpowb binary under test (DPOWB_CLI) and collects its exit code and output.
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QStringList>

namespace dpowb::test {

struct CliResult {
    int code = -1;  // -1: did not finish in time
    QByteArray out, err;
};

inline CliResult runCli(const QStringList& args, int timeoutMs = 60000) {
    QProcess p;
    p.start(DPOWB_CLI, args);
    CliResult r;
    if (!p.waitForFinished(timeoutMs)) return r;
    r.code = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

}  // namespace dpowb::test
