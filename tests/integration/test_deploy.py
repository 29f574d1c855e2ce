"""The files in deploy/ as a new user meets them: the systemd unit verifies, the
Kubernetes ConfigMap's config passes --check-config, the Dockerfile copies only
what exists, and every metric the Grafana dashboard queries is one breakwater
really exports."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BINARY, Breakwater, Upstream, assert_clean, base_config, free_port, request

ROOT = os.environ.get("BW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
DEPLOY = os.path.join(ROOT, "deploy")

ALL_POLICIES = """
[store]
backend = "memory"

[[route]]
name = "r"
listener = "in"
upstream = "app"
timeout = "2s"

[route.rate_limit]
rate = 1000
[route.idempotency]
[route.bulkhead]
max_concurrent = 10
[route.retry]
max_attempts = 2
[route.circuit_breaker]
minimum_calls = 5
"""


def read(path):
    with open(path) as f:
        return f.read()


class DeployTest(unittest.TestCase):
    def test_systemd_unit_verifies(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        unit = read(os.path.join(DEPLOY, "systemd/breakwater.service"))
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        with tempfile.TemporaryDirectory() as d:
            # The unit names /usr/bin/breakwater; point it at the binary under test.
            path = os.path.join(d, "breakwater.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/bin/breakwater", os.path.abspath(BINARY)))
            r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_kubernetes_configmap_config_is_valid(self):
        text = read(os.path.join(DEPLOY, "kubernetes/sidecar.yaml"))
        self.assertIn("restartPolicy: Always", text)  # a native sidecar
        self.assertIn("path: /ready", text)
        m = re.search(r"breakwater\.toml: \|\n((?:    .*\n|\n)+)", text)
        self.assertIsNotNone(m)
        toml = "".join(line[4:] + "\n" for line in m.group(1).splitlines())
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(toml)
            f.flush()
            r = subprocess.run([BINARY, "--check-config", f.name], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)

    def test_dockerfile_copies_what_exists(self):
        text = read(os.path.join(DEPLOY, "Dockerfile"))
        sources = re.findall(r"^COPY (?!--from)(\S+) ", text, re.M)
        self.assertTrue(sources)
        for s in sources:
            self.assertTrue(os.path.exists(os.path.join(ROOT, s)), s)

    def test_dashboard_queries_exported_metrics(self):
        dash = json.loads(read(os.path.join(DEPLOY, "grafana/breakwater-dashboard.json")))
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        wanted = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"breakwater_[a-z_]+", e)}
        upstream, port, admin = Upstream(), free_port(), free_port()
        bw = Breakwater(base_config(port, admin, upstream.port, ALL_POLICIES))
        try:
            request(port, "GET", "/echo")
            _, text = bw.admin("/metrics")
        finally:
            bw.stop()
            upstream.stop()
        assert_clean(self, bw)
        exported = set(re.findall(r"^# TYPE (breakwater_[a-z_]+) ", text, re.M))
        self.assertEqual(wanted - exported, set())
        scrape = read(os.path.join(DEPLOY, "prometheus/scrape.yml"))
        self.assertIn("127.0.0.1:9901", scrape)


if __name__ == "__main__":
    unittest.main()
