"""Per-method analysis, registered by method name: what `tickets analyze` adds for a sweep that has
trials of that method (tables and plots beyond the generic front). Importing this package imports
every module in it, which registers them; the generic analysis and the CLI name no method.
"""
import importlib
import pkgutil

from analysis.methods.base import METHOD_REPORTS, Figure, MethodReport, ReportContext, method_reports

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHOD_REPORTS", "Figure", "MethodReport", "ReportContext", "method_reports"]
