"""The status page (GET /, SPEC §7) in a real browser: headless Chromium (Debian's
`chromium`, installed by scripts/deps.sh) loads the page, runs its scripts on
virtual time (so a loaded machine changes nothing but how long it takes), and
the DOM it leaves shows every route, the open breaker's badge in words, charts
with bars and a p99 line, and the same numbers /stats gives. Screenshots (a
laptop and a phone width) are kept under the build directory; with
BW_UPDATE_DOCS=1 the laptop one is copied to docs/ for the README."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, ProxyTestCase, route

CLASSES = ("success", "client_error", "server_error", "rejected")
ARTIFACTS = os.path.dirname(os.path.abspath(BINARY))  # the build directory
DOCS = os.path.join(os.environ.get("BW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")), "docs")
# Virtual milliseconds the page runs for: about ten redraws, whatever the machine's load.
BUDGET_MS = 10000

ROUTES = (
    route("checkout", "/checkout", '[route.retry]\nmax_attempts = 2\n') +
    route("payments", "/payments", """
[route.circuit_breaker]
window_size = 4
minimum_calls = 4
open_duration = "5m"
""") +
    route("search", "/search", """
[route.rate_limit]
rate = 6
per = "1h"
burst = 6
key = ["route"]

[route.bulkhead]
max_concurrent = 20
""") +
    route("inventory-sync", "/inventory"))


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise AssertionError("chromium is not installed: scripts/deps.sh installs Debian's chromium package")
    return path


class StatusPage(ProxyTestCase):
    routes = ROUTES

    def browse(self, *args, window="1280,1000"):
        """Runs headless Chromium on the page with `args`; returns its stdout."""
        profile = tempfile.mkdtemp(prefix="bw-chromium-")
        try:
            out = subprocess.run(
                [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                 "--user-data-dir=" + profile, "--window-size=" + window,
                 "--virtual-time-budget=%d" % BUDGET_MS] + list(args) +
                ["http://127.0.0.1:%d/" % self.admin_port],
                capture_output=True, timeout=300)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")[-2000:])
        return out.stdout.decode()

    def traffic(self):
        """A few seconds of known traffic, so the charts have more than one bar."""
        for second in range(4):
            for _ in range(3 + 2 * second):
                self.assertEqual(self.get("/checkout/ok")[0], 200)
            self.assertEqual(self.get("/checkout/status/404")[0], 404)
            if second % 2:
                self.assertEqual(self.get("/checkout/status/500")[0], 500)
            self.assertEqual(self.get("/search/ok")[0], 200)
            time.sleep(1)  # for the picture only: nothing below depends on which second an answer fell in
        for _ in range(4):
            self.assertEqual(self.get("/payments/status/503")[0], 503)  # opens the breaker
        for _ in range(2):
            self.assertEqual(self.get("/payments/ok")[1].get("x-breakwater"), "circuit_open")
        for _ in range(4):
            self.get("/search/ok")  # 2 more admitted, then rate_limited
        return {
            "checkout": {"success": 3 + 5 + 7 + 9, "client_error": 4, "server_error": 2, "rejected": 0},
            "payments": {"success": 0, "client_error": 0, "server_error": 4, "rejected": 2},
            "search": {"success": 6, "client_error": 0, "server_error": 0, "rejected": 2},
            "inventory-sync": dict.fromkeys(CLASSES, 0),
        }

    def wait_stats(self, want, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            stats = json.loads(self.bw.admin("/stats")[1])
            got = {r["name"]: {c: sum(r["series"][c]) for c in CLASSES} for r in stats["routes"]}
            if got == want or time.time() > deadline:
                self.assertEqual(got, want)
                return stats

    @staticmethod
    def cards(dom):
        """{route: the HTML of its card} from the dumped DOM (the cards the script drew, not its source)."""
        main = dom.split('<main id="routes"')[1].split("</main>")[0]
        out = {}
        for part in main.split('<section class="card" data-route="')[1:]:
            name, _, rest = part.partition('"')
            out[name] = rest.split("</section>")[0]
        return out

    def test_page_draws_routes_breaker_and_charts_in_a_real_browser(self):
        want = self.traffic()
        self.wait_stats(want)
        dom = self.browse("--dump-dom")

        self.assertRegex(dom, r'<span id="store" class="badge good"[^>]*>store memory: \u2713 healthy</span>')
        draws = int(re.search(r'<body[^>]*data-draws="(\d+)"', dom).group(1))
        self.assertGreaterEqual(draws, 3, "the page redraws from /stats every second")
        self.assertNotIn('id="problem" role="alert">\u26a0', dom, "every /stats fetch answered")

        cards = self.cards(dom)
        self.assertEqual(list(cards), ["checkout", "payments", "search", "inventory-sync"])
        for name, card in cards.items():
            self.assertIn("<h2>%s</h2>" % name, card)
            for cls in CLASSES:  # the legend shows the window's totals, the same as /stats
                self.assertIn('<b data-total="%s">%d</b>' % (cls, want[name][cls]), card, (name, cls))

        # The open breaker: a badge that says so in words, with how long it has held.
        self.assertRegex(cards["payments"],
                         r'<span class="badge bad" data-state="open"[^>]*>\u2715 open for \d+ s</span>')
        self.assertIn("circuit_open <b>2</b>", cards["payments"])
        self.assertRegex(cards["checkout"], r'data-state="none">no breaker<')
        self.assertIn('data-field="budget">', cards["checkout"])
        self.assertNotIn('data-field="budget">no retries', cards["checkout"])
        self.assertIn('data-field="bulkhead">0 / 20 in use', cards["search"])
        self.assertIn("rate_limited <b>2</b>", cards["search"])

        # Charts: bars for seconds with answers and a p99 line; none for a route without answers.
        for name in ("checkout", "payments", "search"):
            svg = re.search(r'<svg class="chart".*?</svg>', cards[name], re.S).group(0)
            bars = int(re.search(r'data-bars="(\d+)"', svg).group(1))
            self.assertGreater(bars, 0, name)
            self.assertEqual(len(re.findall(r"<rect ", svg)), bars, name)
            self.assertRegex(svg, r'<rect class="(success|client_error|server_error|rejected)" x="[\d.]+" '
                                  r'y="[\d.]+" width="[\d.]+" height="[1-9][\d.]*"', name)
            self.assertRegex(svg, r'<path class="p99" vector-effect="non-scaling-stroke" d="M[\d. LHM]+"', name)
        # Whichever seconds its answers fell in, checkout's three classes are each a bar somewhere.
        for cls in ("success", "client_error", "server_error"):
            self.assertIn('<rect class="%s"' % cls, cards["checkout"])
        self.assertNotIn('<rect class="rejected"', cards["checkout"])
        quiet = cards["inventory-sync"]
        self.assertIn('data-bars="0" data-p99-points="0"', quiet)
        self.assertNotIn("<rect", quiet)

        # Screenshots: the artifacts a person looks at.
        for name, window in (("status-page.png", "1280,1000"), ("status-page-phone.png", "390,1600")):
            path = os.path.join(ARTIFACTS, name)
            if os.path.exists(path):
                os.remove(path)
            self.browse("--screenshot=" + path, window=window)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)
            self.assertGreater(os.path.getsize(path), 10000, name)
        if os.environ.get("BW_UPDATE_DOCS") == "1":
            os.makedirs(DOCS, exist_ok=True)
            shutil.copy(os.path.join(ARTIFACTS, "status-page.png"), os.path.join(DOCS, "status-page.png"))


if __name__ == "__main__":
    unittest.main()
