#!/usr/bin/env python3
"""Asks a running Prometheus (scraping the real services) what the dashboards and
alerts would see. Run by live_test.sh after its workload.

  live_check.py --prom URL --repo DIR --services "customers sales ..." --window SECONDS
                [--wait SECONDS]

- every target is up and carries its `service` label;
- the `service` template variable lists every running service;
- every query of every panel of every dashboard in deploy/grafana returns at least
  one series with a finite value, and each series that has one carries the labels
  its legend names ({{label}}); $service is `.*`, $__range and $__rate_interval the
  whole window of the run;
- every metric that the alert rules use exists, and Prometheus evaluates every rule
  without error.
Queries that only concern a service not running (KEFU_DEPLOY_SERVICES) are skipped
and listed. Retries for up to --wait seconds (live_test.sh has gauges refresh every 5 s), then
prints each failure and 'N passed, N failed'.
"""
import argparse
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

ALL = ["customers", "sales", "contracts", "complaints", "performance"]


def get(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=20) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]


# ---- PromQL: the metric names an expression selects ----
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan", "atan2"}


def metric_names(expr):
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    expr = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])*", " ", expr)  # numbers, durations
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = m.group(0)
        rest = expr[m.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def owner(metric):
    """The service a metric belongs to, or None for the ones every service exports."""
    m = re.match(r"kefu_(customers|sales|contracts|complaints|performance)_", metric)
    return m.group(1) if m else None


def finite(v):
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


class Run:
    def __init__(self, args):
        self.a = args
        self.services = args.services.split()
        self.failures = []
        self.passed = 0
        self.skipped = []

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
        return cond

    def skip_for(self, expr):
        missing = {owner(m) for m in metric_names(expr)} - {None} - set(self.services)
        return sorted(missing)

    def targets(self):
        data = get(self.a.prom, "/api/v1/targets", state="active")["activeTargets"]
        by_service = {t["labels"].get("service"): t for t in data}
        for s in self.services:
            t = by_service.get(s)
            self.ok(t is not None and t["health"] == "up",
                    f"target {s}: {'missing' if t is None else t['health'] + ' ' + t.get('lastError', '')}")

    def variable(self):
        values = get(self.a.prom, "/api/v1/label/service/values", **{"match[]": "grpc_server_started_total"})
        self.ok(set(self.services) <= set(values),
                f"template variable service: label_values(grpc_server_started_total, service) = {values}")

    def query(self, expr):
        return get(self.a.prom, "/api/v1/query", query=expr)

    def dashboards(self):
        window = f"{self.a.window}s"
        gdir = os.path.join(self.a.repo, "deploy", "grafana")
        files = sorted(f for f in os.listdir(gdir) if f.endswith(".json"))
        self.ok(len(files) >= 2, f"dashboards in {gdir}: {files}")
        count = 0
        for f in files:
            dash = json.load(open(os.path.join(gdir, f), encoding="utf-8"))
            panels = []
            for p in dash["panels"]:
                panels.append(p)
                panels += p.get("panels", [])
            for p in panels:
                if p["type"] == "row":
                    continue
                targets = p.get("targets", [])
                self.ok(targets, f"{f} panel '{p['title']}' has no query")
                for t in targets:
                    count += 1
                    expr = (t["expr"].replace("$__rate_interval", window).replace("$__range", window)
                            .replace("$service", ".*"))
                    where = f"{f} panel '{p['title']}' {t['refId']}"
                    skip = self.skip_for(expr)
                    if skip:
                        self.skipped.append(f"{where} (needs {', '.join(skip)})")
                        continue
                    try:
                        data = self.query(expr)
                    except Exception as e:  # noqa: BLE001 - report any failure of the query
                        self.ok(False, f"{where}: {e}\n    {expr}")
                        continue
                    series = [r for r in data["result"] if finite(r["value"][1])]
                    if not self.ok(series, f"{where}: no data ({len(data['result'])} series, none finite)\n    {expr}"):
                        continue
                    legend = re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", ""))
                    lacking = [r["metric"] for r in series if any(not r["metric"].get(l) for l in legend)]
                    self.ok(not lacking, f"{where}: series without the legend's labels {legend}: {lacking[:2]}\n    {expr}")
        return count

    def rules(self):
        doc = yaml.safe_load(open(os.path.join(self.a.repo, "deploy", "prometheus", "rules", "kefu-alerts.yml"),
                                  encoding="utf-8"))
        alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
        names = set()
        for r in alerts:
            used = metric_names(r["expr"])
            self.ok(used, f"alert {r['alert']}: no metric found in its expression")
            names |= used
        for name in sorted(names):
            if owner(name) and owner(name) not in self.services:
                self.skipped.append(f"metric {name} of the alert rules")
                continue
            series = get(self.a.prom, "/api/v1/series", **{"match[]": name})
            self.ok(series, f"metric {name} (used by the alert rules) does not exist")
            if name != "up" and series:
                self.ok(all(s.get("service") for s in series), f"metric {name}: series without a service label")
        loaded = get(self.a.prom, "/api/v1/rules", type="alert")["groups"]
        state = {r["name"]: r for g in loaded for r in g["rules"]}
        for r in alerts:
            s = state.get(r["alert"])
            self.ok(s is not None and s.get("health") == "ok",
                    f"alert {r['alert']}: {'not loaded' if s is None else s.get('health')} {s and s.get('lastError')}")
        return len(alerts), len(names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prom", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--services", required=True)
    ap.add_argument("--window", type=int, required=True)
    ap.add_argument("--wait", type=int, default=60)
    args = ap.parse_args()
    deadline = time.time() + args.wait
    while True:
        run = Run(args)
        run.targets()
        run.variable()
        queries = run.dashboards()
        alerts, metrics = run.rules()
        if not run.failures or time.time() > deadline:
            break
        print(f"  {len(run.failures)} checks not yet passing; asking again in 5 s")
        time.sleep(5)
    print(f"{queries} dashboard queries, {alerts} alert rules using {metrics} metrics, services: {args.services}")
    for s in run.skipped:
        print(f"skipped: {s}")
    for f in run.failures:
        print(f"FAIL {f}")
    print(f"{run.passed} passed, {len(run.failures)} failed")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
