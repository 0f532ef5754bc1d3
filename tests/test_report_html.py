"""The synthetic report's index.html in a real browser (headless Chromium): it renders to a
non-blank screenshot, its DOM holds the tables and images, and every image loads.

Chromium comes from Debian's package (``scripts/setup_chromium.sh``, run by ``.ci/run``); without
it these tests report themselves skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_synth import build_results, make_study

from c2am_bench.report import render_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)  # fmt: skip
WIDTH, HEIGHT = 1400, 3000

# Appended to a copy of index.html (the report itself has no script): once every image has
# loaded or failed, write each image's natural size into the DOM so --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) {
    img.setAttribute("data-probe", img.complete && img.naturalWidth > 0
      ? `ok ${img.naturalWidth}x${img.naturalHeight}` : "broken");
  }
  document.body.setAttribute("data-probed", String(document.images.length));
});
</script>"""


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"headless Chromium not installed ({CHROMIUM} missing): run "
            "scripts/setup_chromium.sh (Debian: apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("html")
    return render_report(build_results(base), base / "report", study=make_study())


def _run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def test_screenshot_is_not_blank(chromium, report, tmp_path):
    shot = tmp_path / "shot.png"
    _run(chromium, tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
         (report / "index.html").as_uri())  # fmt: skip
    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    grey = rgb.mean(axis=2)
    assert grey.std() > 20, "the page renders (almost) uniformly"
    assert (grey < 128).mean() > 0.005, "no dark text or lines on the page"
    # the figures bring colour (bars, heat maps, CAMs); text and tables alone are grey/blue-grey
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > 80).mean() > 0.01, "no figure visible in the first screen"
    # the top of the page is the title and Table 1 (text), not a figure: dark pixels up there
    assert (grey[:400] < 128).mean() > 0.002


def test_dom_has_tables_and_images_that_load(chromium, report, tmp_path):
    dom = _run(chromium, tmp_path, "--dump-dom", (report / "index.html").as_uri()).stdout
    assert dom.count("<table") >= 7
    assert "Table 1: mIoU per stage" in dom and "paper (VOC 2012)" in dom
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', dom)
    assert len(srcs) >= 12
    for src in srcs:
        assert (report / src).is_file(), src

    probe = report / "probe.html"  # beside index.html so the relative src paths still resolve
    probe.write_text((report / "index.html").read_text().replace("</body>", PROBE + "</body>"))
    try:
        dom = _run(chromium, tmp_path, "--virtual-time-budget=20000", "--dump-dom",
                   probe.as_uri()).stdout  # fmt: skip
    finally:
        probe.unlink()
    assert f'data-probed="{len(srcs)}"' in dom, "the probe did not run"
    states = dict(re.findall(r'<img[^>]*\ssrc="([^"]+)"[^>]*\sdata-probe="([^"]+)"', dom))
    assert set(states) == set(srcs)
    broken = [s for s, state in states.items() if not state.startswith("ok ")]
    assert not broken, f"broken images: {broken}"
    for src, state in states.items():
        w, h = (int(v) for v in state.split()[1].split("x"))
        with Image.open(report / src) as im:
            assert (w, h) == im.size, src
