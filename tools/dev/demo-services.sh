#!/usr/bin/env bash
# Demo sales projects, contracts and work orders for `make run`, through kefuctl and
# the real APIs, on the demo customers (1..300) and staff (E1001..E1012) that
# kefu-demo-load created. Skipped per service when that service already has data, so
# running `make run` again changes nothing.
set -uo pipefail
K=${1:?usage: demo-services.sh <kefuctl>}
today=$(date +%F)
day() { date -d "$1" +%F; }
owner() { printf 'E%04d' $((1001 + $1 % 12)); }
dept() { case $(($1 % 3)) in 0) echo D-EAST ;; 1) echo D-SOUTH ;; *) echo D-NORTH ;; esac; }
q() { "$@" >/dev/null 2>&1; }
has_any() { "$K" --json "$@" --page-size 1 2>/dev/null | grep -q '"id"'; }

# ---- sales: a pipeline across every stage ----
if has_any sales list; then
  echo "  sales: demo projects already there"
else
  names=(智能客服平台建设 呼叫中心升级 售后服务外包 设备维保项目 CRM系统实施 数据中心运维 客服培训服务 工单系统采购
         全国服务网点建设 远程诊断平台 备件管理系统 客户满意度调研 渠道服务支持 安装调试服务 延保服务推广 华南区域服务中心)
  stages=(initiation proposal bidding negotiation contract implementation)
  for n in $(seq 1 24); do
    c=$((n * 7 % 300 + 1)); o=$(owner $n)
    amount=$(( (n * 37 % 90 + 10) * 10000 )).00
    q "$K" --actor "$o" sales create --customer "$c" --name "${names[$((n % ${#names[@]}))]}-$n" --owner "$o" \
      --department "$(dept $n)" --goal "提升客户服务能力" --contact "客户联系人$n" --amount "$amount" \
      --signing "$(day "+$((n * 11 % 150 + 10)) days")" --request-id "demo-sp-$n"
    target=$((n % 8))   # 0..5 open stages, 6 won, 7 lost
    for i in $(seq 1 $(( target < 6 ? target : 4 ))); do q "$K" --actor "$o" sales stage "$n" --stage "${stages[$i]}"; done
    q "$K" --actor "$o" sales activity add "$n" --type visit --purpose "拜访客户，了解需求" --result "客户认可方案方向" --cost 800
    if [ "$target" = 6 ]; then
      q "$K" --actor "$o" sales stage "$n" --stage won --summary "方案契合度高，服务网点覆盖全面" --total-cost 15000
    elif [ "$target" = 7 ]; then
      q "$K" --actor "$o" sales stage "$n" --stage lost --summary "竞争对手报价低15%" --total-cost 8000
    fi
  done
  echo "  sales: 24 projects across the pipeline (3 won with draft contracts, 3 lost)"
fi

# ---- contracts: service contracts and warranties, some expiring soon ----
if has_any contracts list --type service-contract; then
  echo "  contracts: demo contracts already there"
else
  for n in $(seq 1 16); do
    c=$((n * 11 % 300 + 1)); o=$(owner $n)
    type=service-contract; [ $((n % 3)) = 0 ] && type=service-warranty
    if [ "$n" -le 5 ]; then expiry=$(day "+$((n * 5)) days")       # expiring within 30 days
    elif [ "$n" -le 7 ]; then expiry=$(day "-$((n)) days")         # already over: expires on its own
    else expiry=$(day "+$((n * 30)) days"); fi
    id=$("$K" --json --actor "$o" contracts create --customer "$c" --name "年度维保服务合同-$n" --type "$type" \
         --amount "$(( n * 15000 )).00" --effective "$(day '-200 days')" --expiry "$expiry" --owner "$o" \
         --department "$(dept $n)" --request-id "demo-ct-$n" 2>/dev/null | sed -n 's/.*"id": "\([0-9]*\)".*/\1/p' | head -1)
    [ -n "$id" ] || continue
    q "$K" --actor "$o" contracts risks "$id" --risk "medium:第5条 服务响应时间:4小时响应需确认人力"
    q "$K" --actor "$o" contracts submit "$id"
    q "$K" --actor M2001 --roles department_manager contracts approve "$id" --opinion "同意"
    q "$K" --actor "$o" contracts sign "$id" --date "$(day '-210 days')"
  done
  echo "  contracts: 16 service contracts and warranties (5 expiring within 30 days, 2 past expiry)"
fi

# ---- complaints: work orders in every state, some overdue ----
if has_any complaints list; then
  echo "  complaints: demo work orders already there"
else
  titles=(空调不制冷 发票开错 安装师傅迟到 设备异响 配件缺货 客服电话打不通 上门服务态度差 表扬客服小王 建议增加夜间服务
          咨询保修政策 网点地址变更咨询 举报冒充维修人员)
  types=(fault-report consultation complaint fault-report service-request complaint complaint praise suggestion
         consultation consultation report)
  for n in $(seq 1 30); do
    c=$((n * 13 % 300 + 1)); o=$(owner $n); i=$((n % ${#titles[@]}))
    sev=general; [ $((n % 10)) = 0 ] && sev=major; [ $((n % 4)) = 1 ] && sev=minor
    received=$(date -d "-$((n % 9)) days -$((n % 5)) hours" '+%F %H:%M')
    id=$("$K" --json --actor "$o" complaints create --customer "$c" --type "${types[$i]}" --severity "$sev" \
         --title "${titles[$i]}" --content "客户来电：${titles[$i]}，请尽快处理" --department "$(dept $n)" \
         --handler "$o" --received "$received" --request-id "demo-wo-$n" 2>/dev/null |
         sed -n 's/.*"id": "\([0-9]*\)".*/\1/p' | head -1)
    [ -n "$id" ] || continue
    step=$((n % 6))   # 0 new (often overdue), 1 accepted, 2 in progress, 3 resolved, 4 closed, 5 reopened
    [ "$step" -ge 1 ] && q "$K" --actor "$o" complaints accept "$id"
    [ "$step" -ge 2 ] && q "$K" --actor "$o" complaints start "$id"
    [ "$n" = 8 ] && q "$K" --actor "$o" complaints pause "$id" --reason waiting-customer --note "等待客户提供购买凭证"
    if [ "$step" -ge 3 ]; then
      q "$K" --actor "$o" complaints resolve "$id" --summary "已上门处理，问题解决" --action repair --root-cause "部件老化"
    fi
    if [ "$step" -ge 4 ]; then
      q "$K" --actor "$o" complaints follow-up-start "$id"
      if [ "$step" = 5 ]; then q "$K" --actor "$o" complaints follow-up "$id" --satisfaction 2 --note "问题复发"
      else q "$K" --actor "$o" complaints follow-up "$id" --satisfaction 5 --note "满意"; fi
    fi
  done
  echo "  complaints: 30 work orders in every state; the overdue ones escalate within seconds"
fi
