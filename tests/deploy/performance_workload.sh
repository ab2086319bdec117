#!/usr/bin/env bash
# A little performance activity for live_test.sh, through kefuctl: a department with
# a manager and agents, a work plan with recorded work, an open 360 cycle with one
# rating, and a control chart, so that every performance metric has a series.
#   performance_workload.sh <kefuctl>      (KEFU_PERFORMANCE_ADDR, and KEFU_TLS_CA_FILE
#                                           and KEFU_SIGNING_KEY for TLS and the tokens
#                                           of --actor/--roles, set by the caller)
set -euo pipefail
K=${1:?usage: performance_workload.sh <kefuctl>}
hr=(--actor H0001 --roles hr)
today=$(date +%F)
id_of() { sed -n 's/.*"id": "\{0,1\}\([0-9][0-9]*\)"\{0,1\}.*/\1/p' | head -1; }

"$K" "${hr[@]}" performance department-create D-LIVE --name 巡检服务部 >/dev/null
"$K" "${hr[@]}" performance staff-create L2001 --name 张经理 --department D-LIVE --role department_manager >/dev/null
for n in 1 2 3; do
  "$K" "${hr[@]}" performance staff-create "L100$n" --name "客服专员$n" --department D-LIVE --role agent \
    --superior L2001 >/dev/null
done
plan=$("$K" --json --actor L2001 --roles department_manager performance plan-create --title 季度客户回访 \
  --type customer_visit --department D-LIVE --from "$(date -d '-3 days' +%F)" --to "$(date -d '+27 days' +%F)" \
  --target 20 --minimum 10 --purpose 提高客户满意度 | id_of)
[ -n "$plan" ] || { echo "no plan id"; exit 1; }
"$K" --actor L1001 performance plan-record "$plan" --date "$today" --count 6 --note 上门回访 >/dev/null
quarter="$(date +%Y)-Q$(( ($(date +%-m) - 1) / 3 + 1 ))"
cycle=$("$K" --json "${hr[@]}" performance cycle-create --name "${quarter} 360评估" --kind quarterly \
  --period "$quarter" --department D-LIVE | id_of)
[ -n "$cycle" ] || { echo "no cycle id"; exit 1; }
"$K" --actor L1001 performance rate "$cycle" --staff L2001 --score 4 >/dev/null
"$K" --actor L2001 --roles department_manager performance chart --measure overdue-rate >/dev/null
"$K" --actor L2001 --roles department_manager performance chart --measure satisfaction >/dev/null
echo "department D-LIVE, plan $plan (6 of 20), cycle $cycle (one rating), two control charts"
