#!/usr/bin/env python3
"""The alert rules: promtool check and unit tests, and proof that the tests bite.

  check_rules.py <repo> <work dir>

- `promtool check rules` on deploy/prometheus/rules/*.yml and `promtool test rules`
  on deploy/prometheus/tests/*.test.yml pass;
- every alert has a test case where it fires and one where it is expected quiet;
- every alert's tests fail when its expression never fires (`vector(0) > 1`) and
  when it always fires: the unit tests really pin each alert down;
- every metric the rules use is one the code registers (common/, services/);
- k8s/components/servicemonitor/prometheusrule.yaml is up to date.
Prints 'N passed, N failed'.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_check import metric_names  # noqa: E402

REPO = WORK = RULES_DIR = TESTS_DIR = ""
passed = failed = 0


def result(ok, msg):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", msg)
    else:
        failed += 1
        print("FAIL", msg)
    return ok


def promtool(*args, cwd=None):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)
    return r.returncode, (r.stdout + r.stderr).strip()


def code_metrics(repo):
    """Metric names registered in the C++ code, with the histogram series names."""
    names = {"up"}
    for path in glob.glob(os.path.join(repo, "common", "**", "*.cc"), recursive=True) + \
            glob.glob(os.path.join(repo, "services", "**", "*.cc"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\(\"([a-z_:][a-z0-9_:]*)\"\)", text):
            kind, name = m.groups()
            names.add(name)
            if kind == "Histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
        # Families computed at each scrape (common/kefu/process_metrics.cc).
        names |= set(re.findall(r"add_family\(\"([a-z_:][a-z0-9_:]*)\"", text))
    return names


def main():
    global REPO, WORK, RULES_DIR, TESTS_DIR
    REPO = os.path.abspath(sys.argv[1])
    WORK = os.path.abspath(sys.argv[2])
    RULES_DIR = os.path.join(REPO, "deploy", "prometheus", "rules")
    TESTS_DIR = os.path.join(REPO, "deploy", "prometheus", "tests")
    os.makedirs(WORK, exist_ok=True)
    rule_files = sorted(glob.glob(os.path.join(RULES_DIR, "*.yml")))
    test_files = sorted(glob.glob(os.path.join(TESTS_DIR, "*.test.yml")))
    result(rule_files and test_files, f"rule files {len(rule_files)}, test files {len(test_files)}")
    code, out = promtool("check", "rules", *rule_files)
    result(code == 0, "promtool check rules" + ("" if code == 0 else "\n" + out))
    for t in test_files:
        code, out = promtool("test", "rules", os.path.basename(t), cwd=TESTS_DIR)
        result(code == 0, f"promtool test rules {os.path.basename(t)}" + ("" if code == 0 else "\n" + out))

    alerts = {}
    for f in rule_files:
        for g in yaml.safe_load(open(f, encoding="utf-8"))["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    alerts[r["alert"]] = (f, r)
    fires, quiet = set(), set()
    for t in test_files:
        for case in yaml.safe_load(open(t, encoding="utf-8"))["tests"]:
            for a in case.get("alert_rule_test", []):
                (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    for name in sorted(alerts):
        result(name in fires and name in quiet,
               f"{name}: tested firing {'yes' if name in fires else 'NO'}, quiet {'yes' if name in quiet else 'NO'}")

    known = code_metrics(REPO)
    for name, (_, r) in sorted(alerts.items()):
        used = metric_names(r["expr"])
        unknown = sorted(used - known)
        result(used and not unknown, f"{name}: metrics {sorted(used)} registered by the code"
               + (f"; unknown: {unknown}" if unknown else ""))

    # Mutants: each alert never firing, then always firing. The unit tests must fail.
    for name, (path, _) in sorted(alerts.items()):
        for label, expr in (("never fires", "vector(0) > 1"), ("always fires", 'vector(1)')):
            d = os.path.join(WORK, "mutant")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(os.path.join(d, "rules"))
            shutil.copytree(TESTS_DIR, os.path.join(d, "tests"))
            for f in rule_files:
                doc = yaml.safe_load(open(f, encoding="utf-8"))
                for g in doc["groups"]:
                    for r in g["rules"]:
                        if r.get("alert") == name:
                            r["expr"] = expr
                            r.pop("for", None)
                with open(os.path.join(d, "rules", os.path.basename(f)), "w", encoding="utf-8") as out:
                    yaml.safe_dump(doc, out, allow_unicode=True, sort_keys=False)
            bad = [os.path.basename(t) for t in test_files
                   if promtool("test", "rules", os.path.basename(t), cwd=os.path.join(d, "tests"))[0] != 0]
            result(bad, f"{name} made to {label}: the unit tests notice" + ("" if bad else " NOT"))

    r = subprocess.run([sys.executable, os.path.join(REPO, "deploy", "prometheus", "gen-prometheusrule.py"), "--check"],
                       capture_output=True, text=True)
    result(r.returncode == 0, "k8s PrometheusRule generated from the rules: " + (r.stdout + r.stderr).strip())
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
