"""docs/report.png: the report of the sample recording (the committed fixture model, the truth drawn),
with its second segment playing. Run with `make screenshot`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, open_page  # noqa: E402

from speakerspot import load_model  # noqa: E402
from speakerspot.evaluation import read_truth  # noqa: E402
from speakerspot.report import write_report  # noqa: E402
from speakerspot.scanning import scan  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"


def main() -> None:
    result = scan(load_model(FIXTURES / "reference_model.pt"), FIXTURES / "sample.ts")
    # Paths as a user would give them, not this machine's.
    result = replace(result, file=os.path.relpath(FIXTURES / "sample.ts"))
    with tempfile.TemporaryDirectory() as folder:
        page_path = Path(folder) / "sample.html"
        write_report([result], page_path, truths=[read_truth(FIXTURES / "sample_truth.json")])
        with chromium() as browser:
            page, errors = open_page(browser, page_path)
            page.click("tr.segment >> nth=1")
            page.wait_for_function(f"() => Number(document.getElementById('player').dataset.position) > "
                                   f"{result.segments[1].start + 1}", timeout=15000)
            page.evaluate("() => document.getElementById('player').pause()")
            page.screenshot(path=str(ROOT / "docs" / "report.png"), full_page=True)
    if errors:
        raise SystemExit(f"the page logged errors: {json.dumps(errors)}")
    print("wrote docs/report.png")


if __name__ == "__main__":
    main()
