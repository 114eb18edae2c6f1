// qs_render_icons OUTDIR SIZE...: writes OUTDIR/<SIZE>x<SIZE>/apps/<id>.png for each SIZE, the
// hicolor layout, from the same drawing the window icon uses (app/gui/app_icon.cpp). Run at
// build time, so the packaged PNGs can never drift from the icon the application shows.

#include <cstdio>

#include <QDir>
#include <QImage>
#include <QString>

#include "app_icon.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: qs_render_icons OUTDIR SIZE...\n");
        return 2;
    }
    const QString outDir = QString::fromLocal8Bit(argv[1]);
    for (int i = 2; i < argc; ++i) {
        bool ok = false;
        const int size = QString::fromLocal8Bit(argv[i]).toInt(&ok);
        if (!ok || size < 8 || size > 1024) {
            std::fprintf(stderr, "qs_render_icons: bad size '%s'\n", argv[i]);
            return 2;
        }
        const QString dir = outDir + QStringLiteral("/%1x%1/apps").arg(size);
        const QString path = dir + QStringLiteral("/" QS_APP_ID ".png");
        if (!QDir().mkpath(dir) || !qs::gui::appIconImage(size).save(path, "PNG")) {
            std::fprintf(stderr, "qs_render_icons: cannot write %s\n", qPrintable(path));
            return 1;
        }
    }
    return 0;
}
