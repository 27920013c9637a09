"""Refresh the README's screenshots (docs/screenshots/*.png) from the real-browser scenario.

Runs tests/web/test_web_app_browser.py on SQLite with LEADSIFT_SCREENSHOTS set: the test signs
in, imports, filters, edits the playbook, opens a contact, takes a call and shows the dashboard,
saving a full-page picture of each step. Needs Debian's chromium (apt-get install chromium).
Usage: python scripts/screenshots.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the scenario with screenshots on; print where they went."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    environment = {**os.environ, "LEADSIFT_SCREENSHOTS": str(folder.resolve())}
    environment.pop("LEADSIFT_TEST_POSTGRES_URL", None)  # one engine is enough for pictures
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/web/test_web_app_browser.py"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=environment, check=False)  # noqa: S603
    if done.returncode == 0:
        for picture in sorted(folder.glob("*.png")):
            print(picture.relative_to(ROOT) if picture.is_relative_to(ROOT) else picture)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
