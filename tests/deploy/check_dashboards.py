#!/usr/bin/env python3
"""The Grafana dashboards of deploy/grafana, checked without Grafana or Prometheus.

  check_dashboards.py <repo>

- each file is a dashboard JSON with a unique uid, a `datasource` variable that
  every panel and query uses, panels laid out inside the 24-column grid without
  overlapping, and at least one PromQL query per panel;
- the RED dashboard has the multi-value `service` variable (label_values over the
  gRPC metrics, All = `.*`) and every query filters on it; it covers rate by
  method and code, the server-fault ratio with exactly the codes Unknown,
  Internal, Unavailable, DataLoss and DeadlineExceeded, p50 and p99 latency from
  the histogram, the DB pool and query latency, and refused calls by reason
  (kefu_auth_denied_total) and calls shed when the server is full (kefu_server_shed_total);
- the business dashboard has a panel for each figure of issue 8;
- every metric a query uses is one the code registers (common/, services/).
Whether each query returns data is live_test.sh's part. Prints 'N passed, N failed'.
"""
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_rules import code_metrics  # noqa: E402
from live_check import metric_names  # noqa: E402

REPO = os.path.abspath(sys.argv[1])
GDIR = os.path.join(REPO, "deploy", "grafana")
passed = failed = 0


def result(ok, msg):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", msg)
    return ok


def panels_of(dash):
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out += p.get("panels", [])
    return out


def exprs(panel):
    return [t.get("expr", "") for t in panel.get("targets", [])]


def find_panel(dash, title_re, expr_re):
    return [p for p in panels_of(dash) if re.search(title_re, p.get("title", ""), re.I)
            and any(re.search(expr_re, e) for e in exprs(p))]


def main():
    known = code_metrics(REPO)
    files = sorted(f for f in os.listdir(GDIR) if f.endswith(".json"))
    dashboards = {}
    uids = set()
    for f in files:
        try:
            dash = json.load(open(os.path.join(GDIR, f), encoding="utf-8"))
        except ValueError as e:
            result(False, f"{f}: not JSON: {e}")
            continue
        dashboards[f] = dash
        result(dash.get("uid") and dash["uid"] not in uids, f"{f}: uid {dash.get('uid')} missing or repeated")
        uids.add(dash.get("uid"))
        result(dash.get("title") and isinstance(dash.get("schemaVersion"), int), f"{f}: title and schemaVersion")
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        result(ds and ds.get("type") == "datasource" and ds.get("query") == "prometheus",
               f"{f}: a datasource variable of type prometheus")
        boxes = []
        for p in panels_of(dash):
            where = f"{f} panel '{p.get('title')}'"
            g = p.get("gridPos", {})
            result(all(isinstance(g.get(k), int) for k in "xywh") and g["x"] >= 0 and g["x"] + g["w"] <= 24,
                   f"{where}: gridPos {g} outside the 24 columns")
            boxes.append((g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0), where))
            if p.get("type") == "row":
                continue
            result(p.get("datasource", {}).get("uid") == "${datasource}", f"{where}: datasource must be ${{datasource}}")
            targets = p.get("targets", [])
            result(targets, f"{where}: no query")
            refs = [t.get("refId") for t in targets]
            result(len(refs) == len(set(refs)), f"{where}: repeated refId")
            for t in targets:
                e = t.get("expr", "")
                result(e.strip(), f"{where}: empty expr")
                result(t.get("datasource", {}).get("uid") == "${datasource}", f"{where} {t.get('refId')}: datasource")
                result(e.count("(") == e.count(")") and e.count("{") == e.count("}") and e.count("[") == e.count("]"),
                       f"{where}: unbalanced brackets in {e}")
                used = metric_names(e)
                result(used and not (used - known), f"{where}: metrics {sorted(used - known) or 'none'} not in the code")
                for v in re.findall(r"\$(\w+)", e):
                    result(v in variables or v.startswith("__"), f"{where}: ${v} is not a variable of the dashboard")
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap = a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
                result(not overlap, f"{a[4]} overlaps {b[4]}")

    red = dashboards.get("kefu-red.json")
    if result(red, "kefu-red.json exists"):
        svc = {v["name"]: v for v in red["templating"]["list"]}.get("service", {})
        q = svc.get("query", {})
        q = q.get("query", "") if isinstance(q, dict) else q
        result(re.fullmatch(r"label_values\(grpc_server_\w+, *service\)", q or "") and svc.get("multi")
               and svc.get("includeAll") and svc.get("allValue") == ".*",
               f"RED: service variable label_values(grpc_server_*, service), multi, All=.* (is {svc})")
        for p in panels_of(red):
            for e in exprs(p):
                result('service=~"$service"' in e, f"RED panel '{p['title']}': query does not filter on $service: {e}")
        fault = r'grpc_code=~"Unknown\|Internal\|Unavailable\|DataLoss\|DeadlineExceeded"'
        wanted = [
            ("rate by method and code", r"method.*code|code.*method", r"sum by \([^)]*grpc_method[^)]*grpc_code[^)]*\) \(rate\(grpc_server_handled_total"),
            ("server-fault error ratio", r"error ratio", fault + r".*\) / sum by \(service\) \(rate\(grpc_server_handled_total"),
            ("p50 latency", r"p50", r"histogram_quantile\(0\.5, .*grpc_server_handling_seconds_bucket"),
            ("p99 latency", r"p99", r"histogram_quantile\(0\.99, .*grpc_server_handling_seconds_bucket"),
            ("DB pool", r"pool", r"kefu_db_pool_connections"),
            ("DB query latency", r"query latency", r"histogram_quantile\(0\.\d+, .*kefu_db_query_duration_seconds_bucket"),
            ("database up", r"database up", r"kefu_db_up"),
            ("refused calls by reason", r"refused", r"by \([^)]*reason[^)]*\) \(rate\(kefu_auth_denied_total"),
            ("calls shed when the server is full", r"shed", r"rate\(kefu_server_shed_total"),
        ]
        for what, title, expr in wanted:
            result(find_panel(red, title, expr), f"RED: no panel for {what}")
    biz = dashboards.get("kefu-business.json")
    if result(biz, "kefu-business.json exists"):
        wanted = [
            ("open work orders by severity", r"open work orders by severity", r"by \(severity\).*kefu_complaints_open_work_orders"),
            ("escalations by level and department", r"escalations", r"by \(level, department\).*kefu_complaints_escalations_total"),
            ("SLA breaches by department", r"breaches", r"by \(deadline, department\).*kefu_complaints_sla_breaches_total"),
            ("at-risk work orders", r"at-risk", r"kefu_complaints_at_risk_work_orders"),
            ("pipeline amount by stage", r"pipeline", r"by \(stage\).*kefu_sales_pipeline_amount_minor"),
            ("wins and losses", r"wins and losses", r"by \(result\).*kefu_sales_projects_closed_total"),
            ("contracts expiring within 30 days", r"expiring", r"kefu_contracts_expiring_30d"),
            ("satisfaction rate", r"satisfaction", r"satisf"),
            ("follow-up rate", r"follow-up", r"kefu_complaints_follow_ups_total.*/ .*kefu_complaints_resolutions_total"),
            ("plan progress", r"plan progress", r"kefu_performance_plan_progress_ratio"),
        ]
        for what, title, expr in wanted:
            result(find_panel(biz, title, expr), f"business: no panel for {what}")
    print(f"{len(dashboards)} dashboards, {sum(len(panels_of(d)) for d in dashboards.values())} panels")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
