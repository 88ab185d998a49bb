"""The figures as matplotlib functions of plain arrays, one module per analysis; shared panels
and conventions in :mod:`revcor.report.plots.panels`."""
