#pragma once
// Writing the Variants tab's report to a folder: the core's report.md / report.html /
// chart.svg / report.json (qs::report::writeReport), and the chart as PNG drawn by the tab's
// QCustomPlot (which the Markdown then links, as model cards embed a PNG).

#include <QString>

class QCustomPlot;

namespace qs::report {
struct Report;
}

namespace qs::gui {

class ReportExporter {
public:
    /// Write the report into `dir` (created if missing), the chart as chart.png from `chart`
    /// (null: the Markdown links chart.svg). Empty on success, else the error in words.
    static QString exportReport(const qs::report::Report& report, const QString& dir,
                                QCustomPlot* chart);
};

}  // namespace qs::gui
