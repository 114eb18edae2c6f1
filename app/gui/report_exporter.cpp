#include "report_exporter.h"

#include <qcustomplot.h>
#include <QDir>

#include "report/report_writer.h"

namespace qs::gui {

QString ReportExporter::exportReport(const qs::report::Report& report, const QString& dir,
                                     QCustomPlot* chart) {
    if (!QDir().mkpath(dir)) return QObject::tr("cannot create the folder %1").arg(dir);
    QString chartFile = QStringLiteral("chart.svg");
    if (chart) {
        // Written under a temporary name and renamed, as every other file of the report.
        const QString png = QDir(dir).filePath(QStringLiteral("chart.png"));
        const QString tmp = png + QStringLiteral(".tmp.png");
        if (!chart->savePng(tmp, 800, 480, 1.0)) {
            QFile::remove(tmp);
            return QObject::tr("cannot write %1").arg(png);
        }
        QFile::remove(png);
        if (!QFile::rename(tmp, png)) {
            QFile::remove(tmp);
            return QObject::tr("cannot write %1").arg(png);
        }
        chartFile = QStringLiteral("chart.png");
    }
    auto w = qs::report::writeReport(report, dir.toStdString(), chartFile.toStdString());
    if (!w) return QString::fromStdString(w.error().what());
    return {};
}

}  // namespace qs::gui
