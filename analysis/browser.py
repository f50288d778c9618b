"""Render a report page in headless Chromium (a check that it opens in a browser, and the README's screenshot).

    python -m analysis.browser results/demo/report/index.html docs/report-demo.png
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 2000, timeout_s: int = 120) -> Path:
    """Load `page` from disk in headless Chromium and save what it shows as `png`."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError(f"no headless browser found (tried {', '.join(BROWSERS)}); e.g. apt-get install -y chromium")
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=timeout_s)
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m analysis.browser INDEX_HTML OUT_PNG")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
