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

# ---- performance: the organisation, targets, plans and one closed 360 cycle ----
if has_any performance staff-list; then
  echo "  performance: demo staff already there"
else
  HR=(--actor H3001 --roles hr)
  q "$K" "${HR[@]}" performance department-create D-HQ --name 客户服务中心 --manager M1000
  q "$K" "${HR[@]}" performance department-create D-EAST --name 华东服务部 --parent D-HQ --manager M2001
  q "$K" "${HR[@]}" performance department-create D-SOUTH --name 华南服务部 --parent D-HQ --manager M2002
  q "$K" "${HR[@]}" performance department-create D-NORTH --name 华北服务部 --parent D-HQ --manager M2003
  q "$K" "${HR[@]}" performance staff-create M1000 --name 陈总 --department D-HQ --role senior-manager \
    --position 高级客户服务经理 --training "服务管理高级研修:2025-06-30:优秀"
  q "$K" "${HR[@]}" performance staff-create H3001 --name 刘人事 --department D-HQ --role hr --position 人力资源专员 \
    --superior M1000
  depts=(D-EAST D-SOUTH D-NORTH)
  mgr_names=(周经理 吴经理 郑经理)
  for d in 0 1 2; do
    q "$K" "${HR[@]}" performance staff-create "M200$((d + 1))" --name "${mgr_names[$d]}" --department "${depts[$d]}" \
      --role department-manager --position 部门经理 --superior M1000
  done
  agent_names=(张伟 王芳 李娜 刘洋 陈静 杨磊 赵敏 黄强 周杰 吴婷 徐峰 孙丽)
  for n in $(seq 0 11); do
    role=agent; [ $((n % 2)) = 1 ] && role=account-manager
    q "$K" "${HR[@]}" performance staff-create "E$((1001 + n))" --name "${agent_names[$n]}" \
      --department "${depts[$((n / 4))]}" --role "$role" --position 客服专员 --superior "M200$((n / 4 + 1))" \
      --training "投诉处理规范:$(day '-90 days'):合格"
  done

  year=$(date +%Y)
  MGR=(--actor M1000 --roles senior_manager)
  new_target() { "$K" --json "${MGR[@]}" performance target-create "$@" 2>/dev/null |
                 sed -n 's/.*"id": "\([0-9]*\)".*/\1/p' | head -1; }
  company=$(new_target --level company --period "$year" --metric revenue --target 600000000)
  shares=(250000000 200000000 120000000)   # the north falls short: 570M of 600M is allotted
  for d in 0 1 2; do
    dept_id=$(new_target --parent "$company" --level department --subject "${depts[$d]}" --period "$year" \
              --metric revenue --target "${shares[$d]}")
    for n in 0 1 2 3; do
      q new_target --parent "$dept_id" --level person --subject "E$((1001 + d * 4 + n))" --period "$year" \
        --metric revenue --target "$(( ${shares[$d]} / 4 ))"
    done
  done

  month_start=$(date +%Y-%m-01)
  month_end=$(date -d "$month_start +1 month -1 day" +%F)
  for n in $(seq 0 11); do
    s="E$((1001 + n))"
    id=$("$K" --json --actor "$s" performance plan-create --title "本月重点客户拜访" --type customer-visit --person "$s" \
         --from "$month_start" --to "$month_end" --target 12 --minimum 8 --cost 3000 --purpose "了解续约意向" \
         --request-id "demo-plan-$n" 2>/dev/null | sed -n 's/.*"id": "\([0-9]*\)".*/\1/p' | head -1)
    [ -n "$id" ] && q "$K" --actor "$s" performance plan-record "$id" --date "$month_start" --count $(( n % 7 + 3 )) \
      --cost $(( (n % 7 + 3) * 200 )) --note "上门拜访" --request-id "demo-exec-$n"
  done

  # Last quarter's 360 cycle: everyone rates their superior and subordinates, then HR closes it.
  m=$((10#$(date +%m))); q_now=$(( (m - 1) / 3 + 1 ))
  if [ "$q_now" = 1 ]; then period="$((year - 1))-Q4"; else period="$year-Q$((q_now - 1))"; fi
  cycle=$("$K" --json "${HR[@]}" performance cycle-create --name "${period} 季度360评估" --kind quarterly \
          --period "$period" --request-id "demo-cycle-$period" 2>/dev/null |
          sed -n 's/.*"id": "\([0-9]*\)".*/\1/p' | head -1)
  if [ -n "$cycle" ]; then
    for rater in M1000 H3001 M2001 M2002 M2003 E1001 E1002 E1003 E1004 E1005 E1006 E1007 E1008 E1009 E1010 E1011 E1012; do
      for ratee in $("$K" --json --actor "$rater" performance tasks "$cycle" 2>/dev/null |
                     sed -n 's/.*"ratee_id": "\([A-Z0-9]*\)".*/\1/p'); do
        score=$(( (${#rater} + ${rater: -1} + ${#ratee}) % 3 + 3 ))
        q "$K" --actor "$rater" performance rate "$cycle" --staff "$ratee" --score "$score"
      done
    done
    q "$K" "${HR[@]}" performance cycle-close "$cycle"
  fi
  echo "  performance: 4 departments, 17 staff, a revenue target tree (one short), 12 plans, a closed 360 cycle"
fi
