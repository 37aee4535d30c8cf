"""Open the dashboard in the default browser once it answers: what `make demo` runs beside
Streamlit.

Streamlit opens a browser itself only when it is not headless, and then it also asks for an
e-mail address on a first run and advertises add-ons in the terminal. The dashboard serves
headless (.streamlit/config.toml) and this script opens the page instead, only where a display
is there to show it (the Makefile checks).

Usage: python scripts/open_browser.py URL
"""

from __future__ import annotations

import sys
import time
import urllib.request
import webbrowser


def main(url: str, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                webbrowser.open(url)
                return 0
        except OSError:
            time.sleep(0.5)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
