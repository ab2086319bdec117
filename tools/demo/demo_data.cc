#include "demo_data.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kefu/time_util.h"

namespace kefu::demo {

// ---- Rng ----

Rng::Rng(uint64_t seed, uint64_t stream) {
  // Mix seed and stream so neighbouring customers get unrelated sequences.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32), 0x6b656675u};
  engine_.seed(seq);
}

size_t Rng::Weighted(const std::vector<int>& weights) {
  int total = 0;
  for (int w : weights) total += w;
  int roll = static_cast<int>(Below(static_cast<uint64_t>(total)));
  for (size_t i = 0; i < weights.size(); ++i) {
    if (roll < weights[i]) return i;
    roll -= weights[i];
  }
  return weights.size() - 1;
}

namespace {

// ---- vocabulary ----

struct Romanized {
  const char* hanzi;
  const char* pinyin;  // for email addresses and domains
};

const std::vector<Romanized> kSurnames = {
    {"王", "wang"},  {"李", "li"},     {"张", "zhang"}, {"刘", "liu"},   {"陈", "chen"},  {"杨", "yang"},
    {"黄", "huang"}, {"赵", "zhao"},   {"吴", "wu"},    {"周", "zhou"},  {"徐", "xu"},    {"孙", "sun"},
    {"马", "ma"},    {"朱", "zhu"},    {"胡", "hu"},    {"郭", "guo"},   {"何", "he"},    {"高", "gao"},
    {"林", "lin"},   {"罗", "luo"},    {"郑", "zheng"}, {"梁", "liang"}, {"谢", "xie"},   {"宋", "song"},
    {"唐", "tang"},  {"许", "xu"},     {"韩", "han"},   {"冯", "feng"},  {"邓", "deng"},  {"曹", "cao"},
    {"彭", "peng"},  {"曾", "zeng"},   {"肖", "xiao"},  {"田", "tian"},  {"董", "dong"},  {"袁", "yuan"},
    {"潘", "pan"},   {"于", "yu"},     {"蒋", "jiang"}, {"蔡", "cai"},   {"余", "yu"},    {"杜", "du"},
    {"叶", "ye"},    {"程", "cheng"},  {"苏", "su"},    {"魏", "wei"},   {"吕", "lv"},    {"丁", "ding"},
    {"任", "ren"},   {"沈", "shen"},   {"姚", "yao"},   {"卢", "lu"},    {"姜", "jiang"}, {"崔", "cui"},
    {"钟", "zhong"}, {"谭", "tan"},    {"陆", "lu"},    {"汪", "wang"},  {"范", "fan"},   {"金", "jin"},
    {"石", "shi"},   {"廖", "liao"},   {"贾", "jia"},   {"夏", "xia"},   {"韦", "wei"},   {"方", "fang"},
    {"白", "bai"},   {"邹", "zou"},    {"孟", "meng"},  {"熊", "xiong"}, {"秦", "qin"},   {"邱", "qiu"},
    {"江", "jiang"}, {"尹", "yin"},    {"薛", "xue"},   {"段", "duan"},  {"雷", "lei"},   {"侯", "hou"},
    {"龙", "long"},  {"史", "shi"},    {"陶", "tao"},   {"黎", "li"},    {"贺", "he"},    {"顾", "gu"},
    {"毛", "mao"},   {"郝", "hao"},    {"龚", "gong"},  {"邵", "shao"},  {"万", "wan"},   {"钱", "qian"},
    {"严", "yan"},   {"武", "wu"},     {"戴", "dai"},   {"莫", "mo"},    {"孔", "kong"},  {"汤", "tang"},
};

const std::vector<Romanized> kGivenNames = {
    {"伟", "wei"},         {"芳", "fang"},       {"娜", "na"},          {"敏", "min"},         {"静", "jing"},
    {"丽", "li"},          {"强", "qiang"},      {"磊", "lei"},         {"军", "jun"},         {"洋", "yang"},
    {"勇", "yong"},        {"艳", "yan"},        {"杰", "jie"},         {"娟", "juan"},        {"涛", "tao"},
    {"明", "ming"},        {"超", "chao"},       {"秀英", "xiuying"},   {"华", "hua"},         {"慧", "hui"},
    {"建华", "jianhua"},   {"建国", "jianguo"},  {"志强", "zhiqiang"},  {"晓东", "xiaodong"},  {"海燕", "haiyan"},
    {"雪梅", "xuemei"},    {"婷婷", "tingting"}, {"子轩", "zixuan"},    {"浩然", "haoran"},    {"欣怡", "xinyi"},
    {"梓涵", "zihan"},     {"宇航", "yuhang"},   {"思远", "siyuan"},    {"文博", "wenbo"},     {"嘉怡", "jiayi"},
    {"俊杰", "junjie"},    {"佳琪", "jiaqi"},    {"志明", "zhiming"},   {"玉兰", "yulan"},     {"国庆", "guoqing"},
    {"春梅", "chunmei"},   {"立新", "lixin"},    {"红霞", "hongxia"},   {"鹏飞", "pengfei"},   {"晓燕", "xiaoyan"},
    {"振华", "zhenhua"},   {"丹", "dan"},        {"颖", "ying"},        {"凯", "kai"},         {"琳", "lin"},
    {"斌", "bin"},         {"倩", "qian"},       {"鑫", "xin"},         {"昊", "hao"},         {"蕾", "lei"},
    {"萍", "ping"},        {"刚", "gang"},       {"辉", "hui"},         {"雨桐", "yutong"},    {"一鸣", "yiming"},
};

// Made-up trade names ("字号"); real company names are avoided on purpose.
const std::vector<Romanized> kBrands = {
    {"恒通", "hengtong"},   {"鼎盛", "dingsheng"}, {"瑞丰", "ruifeng"},   {"天成", "tiancheng"},
    {"博远", "boyuan"},     {"金桥", "jinqiao"},   {"宏达", "hongda"},    {"新元", "xinyuan"},
    {"联创", "lianchuang"}, {"盛世", "shengshi"},  {"嘉禾", "jiahe"},     {"远航", "yuanhang"},
    {"海纳", "haina"},      {"九州", "jiuzhou"},   {"启明", "qiming"},    {"卓越", "zhuoyue"},
    {"永信", "yongxin"},    {"聚源", "juyuan"},    {"德润", "derun"},     {"安泰", "antai"},
    {"志诚", "zhicheng"},   {"华迅", "huaxun"},    {"锦程", "jincheng"},  {"明辉", "minghui"},
    {"广泰", "guangtai"},   {"润泽", "runze"},     {"同创", "tongchuang"}, {"星辰", "xingchen"},
    {"睿达", "ruida"},      {"蓝海", "lanhai"},    {"优品", "youpin"},    {"合力", "heli"},
};

struct Region {
  const char* name;
  const char* department;
  int weight;
  std::vector<const char*> cities;
};

// 西南 has no department of its own: the southern team serves it.
const std::vector<Region> kRegions = {
    {"华东", "D-EAST", 35, {"上海", "杭州", "南京", "苏州", "宁波", "合肥", "无锡", "济南", "青岛", "福州"}},
    {"华南", "D-SOUTH", 28, {"广州", "深圳", "东莞", "佛山", "珠海", "南宁", "海口", "汕头"}},
    {"华北", "D-NORTH", 24, {"北京", "天津", "石家庄", "太原", "呼和浩特", "唐山", "保定"}},
    {"西南", "D-SOUTH", 13, {"成都", "重庆", "昆明", "贵阳", "绵阳"}},
};

struct Industry {
  const char* name;
  int weight;
  std::vector<const char*> name_words;  // the business part of a company name
  const char* domain_suffix;
  std::vector<const char*> products;
  int64_t unit_price_min_yuan, unit_price_max_yuan;
};

const std::vector<Industry> kIndustries = {
    {"制造业", 26, {"机械制造", "精密机械", "电子科技", "新材料", "自动化设备", "汽车零部件"}, "mfg",
     {"数控机床", "生产线设备", "工业传感器", "伺服电机"}, 800, 3000},
    {"零售", 18, {"商贸", "百货", "连锁超市", "电子商务", "便利店管理"}, "retail",
     {"收银系统", "门店货架", "会员系统", "冷柜"}, 50, 400},
    {"金融", 10, {"投资管理", "融资租赁", "资产管理", "保险代理"}, "fin",
     {"风控系统", "数据终端", "租赁设备", "呼叫中心坐席"}, 1500, 6000},
    {"医疗", 14, {"医疗器械", "医药", "健康科技", "生物科技"}, "med",
     {"医疗影像设备", "检验试剂", "监护仪", "消毒设备"}, 600, 5000},
    {"教育", 10, {"教育科技", "培训学校", "文化传播"}, "edu", {"在线课程平台", "教学一体机", "培训课程", "录播系统"},
     100, 800},
    {"物流", 10, {"物流", "供应链管理", "仓储服务"}, "logistics",
     {"仓储管理系统", "冷链运输服务", "配送车辆", "手持终端"}, 200, 1200},
    {"信息技术", 12, {"信息技术", "软件", "网络科技", "数据服务"}, "tech",
     {"云服务器", "软件许可", "数据接口", "运维服务"}, 300, 2000},
};

// What private customers buy.
const std::vector<const char*> kPersonProducts = {"家用净水设备", "会员服务", "延保服务", "智能门锁"};

const std::vector<const char*> kPhonePrefixes = {
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "170", "173", "175", "176", "177", "178", "180", "181", "182", "183",
    "184", "185", "186", "187", "188", "189", "191", "198", "199"};
const std::vector<const char*> kMailProviders = {"163.com", "126.com", "qq.com", "sina.com", "foxmail.com", "139.com"};
const std::vector<const char*> kRoads = {"人民路", "解放路", "建设路", "中山路", "科技园路", "高新大道", "长江路",
                                         "延安路", "滨江大道", "工业园路", "创业路", "金融街", "学府路", "世纪大道"};
const std::vector<const char*> kTitles = {"采购经理", "总经理", "IT主管", "行政主管", "财务总监", "运营经理", "设备科长"};

const std::vector<std::string> kUpgradeReasons = {"年度采购额增长，升级服务等级", "签订三年框架协议",
                                                  "业务量持续增长，纳入重点客户", "新增多个门店合作"};
const std::vector<std::string> kDowngradeReasons = {"年度采购额下降，调整服务等级", "合作范围缩小",
                                                    "连续两个季度未达等级标准"};

// ---- helpers ----

std::string Digits(Rng& rng, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out.push_back(static_cast<char>('0' + rng.Below(10)));
  return out;
}

struct PersonName {
  std::string hanzi, pinyin;  // pinyin as surname + given name, e.g. "zhangwei"
};

PersonName RandomPerson(Rng& rng) {
  const Romanized& s = rng.Pick(kSurnames);
  const Romanized& g = rng.Pick(kGivenNames);
  return {absl::StrCat(s.hanzi, g.hanzi), absl::StrCat(s.pinyin, g.pinyin)};
}

std::string Address(Rng& rng, const std::string& city, bool office) {
  std::string street = absl::StrCat(city, "市", rng.Pick(kRoads), rng.Between(1, 999), "号");
  if (office) return absl::StrCat(street, rng.Between(2, 28), "楼");
  return absl::StrCat(street, rng.Between(1, 30), "栋", rng.Between(1, 6), "单元");
}

// Local time `hour:minute` on the day `days_back` days before the anchor day.
absl::Time DayTime(absl::Time anchor, absl::TimeZone zone, int days_back, int hour, int minute) {
  absl::CivilDay day = absl::ToCivilDay(anchor, zone) - days_back;
  return absl::FromCivil(absl::CivilMinute(day.year(), day.month(), day.day(), hour, minute), zone);
}

std::string Period(absl::CivilMonth month) { return absl::FormatCivilTime(month).substr(0, 7); }

template <typename T>
Path<T> Single(T value) {
  return {{value}, {""}};
}

template <typename T>
void Step(Path<T>& path, T value, std::string reason) {
  path.steps.push_back(value);
  path.reasons.push_back(std::move(reason));
}

// ---- log entry texts ----

struct LogText {
  std::string description, resolution, summary;
};

LogText ConsultationText(Rng& rng, const std::string& product) {
  static const std::vector<std::string> topics = {"价格政策", "交付周期",   "保修条款",   "发票开具流程",
                                                  "新版本功能", "批量采购折扣", "升级方案"};
  static const std::vector<std::string> answers = {"已详细解答，并通过邮件发送产品资料", "已提供报价单，客户内部评估中",
                                                   "已转交产品经理，两个工作日内回复", "已当场解答，客户表示清楚"};
  const std::string& topic = rng.Pick(topics);
  return {absl::StrCat("客户咨询", product, "的", topic), rng.Pick(answers), absl::StrCat(topic, "咨询")};
}

LogText ComplaintText(Rng& rng, const std::string& product) {
  struct Issue {
    std::string what, fix;
  };
  const std::vector<Issue> issues = {
      {absl::StrCat(product, "故障后维修响应慢"), "已致歉并安排工程师24小时内上门维修"},
      {"订单发货延迟三天", "已加急补发并减免本单运费"},
      {"发票抬头开错", "已重开发票并快递寄出"},
      {"客服热线长时间无人接听", "已致歉，安排专属客服回访"},
      {absl::StrCat(product, "到货外包装破损"), "已免费换货"},
      {"账单重复扣费", "已核实并退还重复扣款"},
      {"上门服务人员迟到一小时", "已致歉并对服务人员进行考核"},
  };
  const Issue& issue = issues[rng.Below(issues.size())];
  return {absl::StrCat("客户投诉：", issue.what), issue.fix, absl::StrCat("投诉-", issue.what)};
}

LogText ServiceText(Rng& rng, const std::string& product) {
  const std::vector<std::string> services = {absl::StrCat(product, "上门安装调试"), "季度例行巡检",
                                             absl::StrCat("远程升级", product, "系统"), "为客户操作人员开展培训",
                                             absl::StrCat("更换", product, "易损配件"), "年度保养服务"};
  static const std::vector<std::string> results = {"已完成，客户签字确认", "服务完成，设备运行正常",
                                                   "已完成，约定下季度再次巡检"};
  const std::string& service = rng.Pick(services);
  return {service, rng.Pick(results), service};
}

LogText VisitText(Rng& rng) {
  static const std::vector<std::string> topics = {"年度合作计划", "续约事宜", "新产品推介", "服务满意度", "付款进度"};
  static const std::vector<std::string> outcomes = {"客户有意扩大采购规模", "客户对服务总体满意，提出改进建议",
                                                    "约定下月提交正式方案", "客户需内部讨论后答复"};
  const std::string& topic = rng.Pick(topics);
  return {absl::StrCat("拜访客户", rng.Pick(kTitles), "，沟通", topic), rng.Pick(outcomes),
          absl::StrCat("拜访：", topic)};
}

LogText SalesText(Rng& rng, const std::string& product) {
  static const std::vector<std::string> outcomes = {"已签订采购订单", "客户需内部审批，下周跟进", "已发送正式报价"};
  return {absl::StrCat(product, "新增采购洽谈"), rng.Pick(outcomes), "采购洽谈"};
}

LogText BillingText(Rng& rng) {
  return {absl::StrCat("客户询问", rng.Between(1, 12), "月账单明细"), "已核对并发送对账单", "账单核对"};
}

LogText ContractText(Rng& rng, const std::string& product) {
  static const std::vector<std::string> outcomes = {"合同已续签一年", "客户要求调整付款条款，法务审核中",
                                                    "已发送合同草案"};
  return {absl::StrCat(product, "合同续签沟通"), rng.Pick(outcomes), "合同续签"};
}

}  // namespace

const std::vector<Owner>& Owners() {
  static const auto* owners = [] {
    auto* list = new std::vector<Owner>();
    const char* departments[] = {"D-EAST", "D-SOUTH", "D-NORTH"};
    for (int i = 0; i < 12; ++i) list->push_back({absl::StrCat("E", 1001 + i), departments[i / 4]});
    return list;
  }();
  return *owners;
}

// ---- DemoGenerator ----

DemoGenerator::DemoGenerator(uint64_t seed, absl::Time anchor, absl::TimeZone zone)
    : seed_(seed), anchor_(anchor), zone_(zone) {}

std::string DemoGenerator::RequestId(absl::string_view suffix) const {
  return absl::StrCat("demo-s", seed_, "-", suffix);
}

std::vector<CustomerPlan> DemoGenerator::Customers(int count) {
  std::vector<CustomerPlan> plans;
  plans.reserve(count);
  for (int n = 1; n <= count; ++n) plans.push_back(Plan(n));
  return plans;
}

std::string DemoGenerator::UniquePhone(Rng& rng) {
  for (;;) {
    std::string phone = absl::StrCat(rng.Pick(kPhonePrefixes), Digits(rng, 8));
    if (phones_.insert(phone).second) return phone;
  }
}

std::string DemoGenerator::UniqueEmail(Rng& rng, const std::string& local, const std::string& domain) {
  std::string email = absl::StrCat(local, "@", domain);
  while (!emails_.insert(email).second) email = absl::StrCat(local, Digits(rng, 2), "@", domain);
  return email;
}

CustomerPlan DemoGenerator::Plan(int number) {
  Rng rng(seed_, static_cast<uint64_t>(number));
  CustomerPlan plan;
  plan.number = number;

  const bool person = rng.Percent(18);
  const Region& region = kRegions[rng.Weighted({kRegions[0].weight, kRegions[1].weight, kRegions[2].weight,
                                                kRegions[3].weight})];
  const std::string city = rng.Pick(region.cities);
  std::vector<Owner> team;
  for (const auto& o : Owners())
    if (o.department_id == region.department) team.push_back(o);
  plan.owner = rng.Pick(team);
  std::vector<int> industry_weights;
  for (const auto& ind : kIndustries) industry_weights.push_back(ind.weight);
  const Industry& industry = kIndustries[rng.Weighted(industry_weights)];

  // Where the customer ends up. Private customers rarely reach the top tiers.
  const pb::Tier tier = static_cast<pb::Tier>(1 + rng.Weighted(person ? std::vector<int>{70, 25, 5, 0}
                                                                      : std::vector<int>{40, 32, 20, 8}));
  const pb::LifecycleStage stage = static_cast<pb::LifecycleStage>(1 + rng.Weighted({15, 20, 42, 13, 10}));
  const bool at_risk = stage == pb::LIFECYCLE_STAGE_DECLINE || stage == pb::LIFECYCLE_STAGE_CHURNED;

  // ---- the customer record ----
  pb::Customer& c = *plan.create.mutable_customer();
  std::string domain;
  if (person) {
    PersonName name;
    do name = RandomPerson(rng);
    while (!names_.insert(name.hanzi).second);
    c.set_kind(pb::CUSTOMER_KIND_PERSON);
    c.set_name(name.hanzi);
    pb::Contact* ct = c.add_contacts();
    ct->set_name(name.hanzi);
    ct->set_phone(UniquePhone(rng));
    const std::string provider = rng.Pick(kMailProviders);
    // QQ mail addresses are usually the QQ number; the others a pinyin handle.
    const std::string local = provider == "qq.com" ? absl::StrCat(rng.Between(100000000, 2999999999))
                                                   : absl::StrCat(name.pinyin, Digits(rng, 2));
    ct->set_email(UniqueEmail(rng, local, provider));
    ct->set_address(Address(rng, city, false));
    ct->set_primary(true);
    c.add_tags("个人客户");
  } else {
    static const std::vector<const char*> kSuffixes = {"有限公司", "股份有限公司", "集团有限公司"};
    std::string name;
    const Romanized* brand = nullptr;
    // Draw until the name is new; brand, business and city give thousands of combinations.
    for (int attempt = 0; attempt < 1000; ++attempt) {
      brand = &rng.Pick(kBrands);
      const char* word = rng.Pick(industry.name_words);
      const char* suffix = kSuffixes[rng.Weighted({70, 20, 10})];
      // Both common patterns: 上海恒通机械制造有限公司 and 恒通机械制造（上海）有限公司.
      name = rng.Percent(75) ? absl::StrCat(city, brand->hanzi, word, suffix)
                             : absl::StrCat(brand->hanzi, word, "（", city, "）", suffix);
      if (!names_.count(name)) break;
    }
    if (names_.count(name)) name = absl::StrCat(name, "（", number, "）");
    names_.insert(name);
    domain = absl::StrCat(brand->pinyin, "-", industry.domain_suffix, rng.Percent(60) ? ".com" : ".com.cn");
    c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
    c.set_name(name);
    c.set_industry(industry.name);
    c.set_credit_rating(static_cast<pb::CreditRating>(1 + rng.Weighted({10, 25, 35, 20, 10})));
    const int contacts = rng.Percent(40) ? 2 : 1;
    for (int i = 0; i < contacts; ++i) {
      PersonName who = RandomPerson(rng);
      pb::Contact* ct = c.add_contacts();
      ct->set_name(who.hanzi);
      ct->set_title(rng.Pick(kTitles));
      ct->set_phone(UniquePhone(rng));
      ct->set_email(UniqueEmail(rng, who.pinyin, domain));
      if (i == 0) ct->set_address(Address(rng, city, true));
      ct->set_primary(i == 0);
    }
  }
  c.set_region(region.name);
  c.set_owner_id(plan.owner.staff_id);
  c.set_department_id(plan.owner.department_id);
  c.set_source(static_cast<pb::AcquisitionSource>(1 + rng.Weighted({25, 15, 10, 25, 10, 10, 5})));

  // Tags follow the customer's situation.
  if (tier >= pb::TIER_GOLD) c.add_tags("重点客户");
  if (tier == pb::TIER_PLATINUM) c.add_tags("大客户");
  if (stage == pb::LIFECYCLE_STAGE_STABLE && rng.Percent(60)) c.add_tags("长期合作");
  if (stage <= pb::LIFECYCLE_STAGE_FORMATION) c.add_tags("新客户");
  if (at_risk) c.add_tags("流失预警");
  if (rng.Percent(20)) c.add_tags("价格敏感");
  if (rng.Percent(12)) c.add_tags("需回访");
  if (!person && absl::StrContains(c.name(), "股份") && rng.Percent(50)) c.add_tags("上市公司");

  // ---- tier history: most customers start where they are, a few moved ----
  plan.tiers = Single(tier);
  const int move = static_cast<int>(rng.Below(100));
  if (tier > pb::TIER_STANDARD && move < 15) {
    pb::Tier from = static_cast<pb::Tier>(tier - 1);
    plan.tiers = Single(from);
    if (from > pb::TIER_STANDARD && rng.Percent(30)) {
      plan.tiers = Single(static_cast<pb::Tier>(from - 1));
      Step(plan.tiers, from, rng.Pick(kUpgradeReasons));
    }
    Step(plan.tiers, tier, rng.Pick(kUpgradeReasons));
  } else if (tier < pb::TIER_PLATINUM && move >= (at_risk ? 70 : 93)) {
    plan.tiers = Single(static_cast<pb::Tier>(tier + 1));
    Step(plan.tiers, tier, rng.Pick(kDowngradeReasons));
  }
  c.set_tier(plan.tiers.steps.front());

  // ---- lifecycle: every customer starts as a prospect ----
  using S = pb::LifecycleStage;
  plan.stages = Single(S::LIFECYCLE_STAGE_PROSPECT);
  bool won_back = false;  // went into decline and recovered
  switch (stage) {
    case S::LIFECYCLE_STAGE_PROSPECT:
      break;
    case S::LIFECYCLE_STAGE_FORMATION:
      Step(plan.stages, S::LIFECYCLE_STAGE_FORMATION, "签订首单合同");
      break;
    case S::LIFECYCLE_STAGE_STABLE:
      Step(plan.stages, S::LIFECYCLE_STAGE_FORMATION, "签订首单合同");
      Step(plan.stages, S::LIFECYCLE_STAGE_STABLE, "合作稳定，持续复购");
      if (rng.Percent(15)) {
        won_back = true;
        Step(plan.stages, S::LIFECYCLE_STAGE_DECLINE, "业务量连续下滑");
        Step(plan.stages, S::LIFECYCLE_STAGE_STABLE, "挽留措施见效，业务回升");
      }
      break;
    case S::LIFECYCLE_STAGE_DECLINE:
      Step(plan.stages, S::LIFECYCLE_STAGE_FORMATION, "签订首单合同");
      Step(plan.stages, S::LIFECYCLE_STAGE_STABLE, "合作稳定，持续复购");
      Step(plan.stages, S::LIFECYCLE_STAGE_DECLINE, "业务量连续下滑");
      break;
    default:  // churned
      Step(plan.stages, S::LIFECYCLE_STAGE_FORMATION, "签订首单合同");
      if (rng.Percent(30)) {
        Step(plan.stages, S::LIFECYCLE_STAGE_CHURNED, "试用后未继续合作");
      } else {
        Step(plan.stages, S::LIFECYCLE_STAGE_STABLE, "合作稳定，持续复购");
        Step(plan.stages, S::LIFECYCLE_STAGE_DECLINE, "业务量连续下滑");
        Step(plan.stages, S::LIFECYCLE_STAGE_CHURNED, "合同到期未续约，客户流失");
      }
      break;
  }

  plan.create.set_request_id(RequestId(absl::StrCat("c", number)));
  plan.create.set_allow_duplicates(false);

  // ---- customer log: 3-10 entries over the last six months ----
  const std::string product = person ? rng.Pick(kPersonProducts) : rng.Pick(industry.products);
  const int entries = stage == S::LIFECYCLE_STAGE_PROSPECT ? static_cast<int>(rng.Between(3, 5))
                                                           : static_cast<int>(rng.Between(3, 10));
  const int span_days = stage == S::LIFECYCLE_STAGE_PROSPECT ? 60 : 180;
  std::vector<int> days_back;
  for (int i = 0; i < entries; ++i) days_back.push_back(static_cast<int>(rng.Between(1, span_days)));
  std::sort(days_back.rbegin(), days_back.rend());  // oldest first
  enum Category { kConsultation, kService, kVisit, kComplaint, kSales, kBilling, kContract };
  const std::vector<int> category_weights =
      at_risk ? std::vector<int>{20, 20, 10, 30, 5, 10, 5} : std::vector<int>{30, 25, 15, 10, 8, 6, 6};
  for (int k = 0; k < entries; ++k) {
    LogPlan lp;
    pb::LogEntry& e = lp.entry;
    LogText text;
    auto category = static_cast<Category>(rng.Weighted(category_weights));
    switch (category) {
      case kConsultation:
        text = ConsultationText(rng, product);
        e.set_category(pb::LOG_CATEGORY_CONSULTATION);
        e.set_channel(std::vector<pb::Channel>{pb::CHANNEL_PHONE, pb::CHANNEL_ONLINE, pb::CHANNEL_EMAIL,
                                               pb::CHANNEL_APP}[rng.Weighted({45, 30, 15, 10})]);
        if (rng.Percent(50)) e.set_satisfaction(static_cast<pb::Satisfaction>(3 + rng.Weighted({20, 45, 35})));
        break;
      case kService:
        text = ServiceText(rng, product);
        e.set_category(pb::LOG_CATEGORY_SERVICE);
        e.set_channel(std::vector<pb::Channel>{pb::CHANNEL_VISIT, pb::CHANNEL_PHONE,
                                               pb::CHANNEL_ONLINE}[rng.Weighted({60, 25, 15})]);
        if (rng.Percent(70)) e.set_satisfaction(static_cast<pb::Satisfaction>(2 + rng.Weighted({5, 20, 40, 35})));
        break;
      case kVisit:
        text = VisitText(rng);
        e.set_category(pb::LOG_CATEGORY_VISIT);
        e.set_channel(pb::CHANNEL_VISIT);
        break;
      case kComplaint:
        text = ComplaintText(rng, product);
        e.set_category(pb::LOG_CATEGORY_COMPLAINT);
        e.set_channel(std::vector<pb::Channel>{pb::CHANNEL_PHONE, pb::CHANNEL_ONLINE, pb::CHANNEL_EMAIL,
                                               pb::CHANNEL_SMS, pb::CHANNEL_LETTER}[rng.Weighted({50, 25, 15, 5, 5})]);
        e.set_satisfaction(static_cast<pb::Satisfaction>(1 + rng.Weighted({25, 40, 30, 5})));
        break;
      case kSales:
        text = SalesText(rng, product);
        e.set_category(pb::LOG_CATEGORY_SALES);
        e.set_channel(rng.Percent(60) ? pb::CHANNEL_VISIT : pb::CHANNEL_PHONE);
        break;
      case kBilling:
        text = BillingText(rng);
        e.set_category(pb::LOG_CATEGORY_BILLING);
        e.set_channel(rng.Percent(50) ? pb::CHANNEL_EMAIL : pb::CHANNEL_PHONE);
        break;
      case kContract:
        text = ContractText(rng, product);
        e.set_category(pb::LOG_CATEGORY_CONTRACT);
        e.set_channel(rng.Percent(50) ? pb::CHANNEL_VISIT : pb::CHANNEL_EMAIL);
        break;
    }
    e.set_description(text.description);
    e.set_resolution(text.resolution);
    e.set_summary(text.summary);
    e.set_staff_id(plan.owner.staff_id);
    e.set_department_id(plan.owner.department_id);
    *e.mutable_event_time() = ToProtoTime(DayTime(anchor_, zone_, days_back[k], static_cast<int>(rng.Between(9, 17)),
                                                  static_cast<int>(rng.Between(0, 59))));
    lp.request_id = RequestId(absl::StrCat("c", number, "-log", k + 1));
    plan.log.push_back(std::move(lp));
  }

  // ---- business volume: the six full months before the anchor month ----
  // Prospects have at most a trial month, new customers a few ramp-up months.
  const absl::CivilMonth this_month(absl::ToCivilDay(anchor_, zone_));
  int months = 6;
  if (stage == S::LIFECYCLE_STAGE_PROSPECT) months = rng.Percent(30) ? 1 : 0;
  if (stage == S::LIFECYCLE_STAGE_FORMATION) months = static_cast<int>(rng.Between(2, 4));
  static const int64_t kBaseMin[] = {0, 20, 100, 300, 1000}, kBaseMax[] = {0, 120, 400, 1200, 4000};
  const int64_t base = rng.Between(kBaseMin[tier], kBaseMax[tier]) / (person ? 10 : 1) + 1;
  const int64_t unit_price_fen = (person ? rng.Between(50, 300) : rng.Between(industry.unit_price_min_yuan,
                                                                               industry.unit_price_max_yuan)) * 100;
  // About one customer in five has a month that swings by more than 30%.
  const int swing_month = rng.Percent(20) ? static_cast<int>(rng.Between(1, months > 1 ? months - 1 : 1)) : -1;
  const bool swing_up = rng.Percent(50);
  const int churned_months = stage == S::LIFECYCLE_STAGE_CHURNED ? static_cast<int>(rng.Between(1, 3)) : 0;
  double level = base;
  for (int i = 0; i < months; ++i) {
    // Month i of `months`, the last one being the month before the anchor.
    if (stage == S::LIFECYCLE_STAGE_FORMATION) level = base * (0.5 + 0.5 * (i + 1) / months);
    if (at_risk && i > 0) level *= 0.82;
    if (won_back) level *= (i == 2 || i == 3) ? 0.8 : (i >= 4 ? 1.2 : 1.0);
    double noise = 0.9 + 0.2 * static_cast<double>(rng.Below(1001)) / 1000.0;
    double value = level * noise;
    if (i == swing_month) value *= swing_up ? 1.45 + 0.01 * rng.Below(30) : 0.45 + 0.01 * rng.Below(15);
    if (i >= months - churned_months) value = 0;
    pb::BusinessVolume v;
    v.set_period(Period(this_month - (months - i)));
    v.set_volume(static_cast<int64_t>(std::llround(value)));
    v.mutable_revenue()->set_currency_code("CNY");
    v.mutable_revenue()->set_amount_minor(v.volume() * unit_price_fen);
    plan.volumes.push_back(std::move(v));
  }

  // ---- retention: customers in decline, lost ones, and those won back ----
  if (won_back || (stage == S::LIFECYCLE_STAGE_DECLINE && rng.Percent(50)) ||
      (stage == S::LIFECYCLE_STAGE_CHURNED && rng.Percent(60))) {
    static const std::vector<std::string> kReasons = {"近三个月业务量下降超过40%", "竞争对手低价挖角",
                                                      "对售后响应速度不满", "预算缩减，计划停止续约",
                                                      "关键联系人离职，合作意向减弱"};
    RetentionPlan rp;
    rp.reason = rng.Pick(kReasons);
    rp.churned = stage == S::LIFECYCLE_STAGE_CHURNED;
    rp.request_id = RequestId(absl::StrCat("c", number, "-retention"));
    struct ActionText {
      pb::RetentionActionType type;
      std::string description;
      int64_t cost_yuan;
    };
    const std::vector<ActionText> actions = {
        {pb::RETENTION_ACTION_TYPE_PROMOTION, "提供下季度订单九折优惠", 5000},
        {pb::RETENTION_ACTION_TYPE_SERVICE_IMPROVEMENT, "指派专属客服，承诺4小时响应", 0},
        {pb::RETENTION_ACTION_TYPE_PRICE_ADJUSTMENT, "续约价格下调5%", 12000},
        {pb::RETENTION_ACTION_TYPE_VISIT, "区域经理登门拜访，了解需求", 800},
        {pb::RETENTION_ACTION_TYPE_COMPENSATION, "赠送一次免费巡检服务", 1500},
    };
    const int count = static_cast<int>(rng.Between(1, 3));
    size_t first = rng.Below(actions.size());
    for (int k = 0; k < count; ++k) {
      const ActionText& a = actions[(first + k) % actions.size()];
      RetentionActionPlan ap;
      ap.action.set_type(a.type);
      ap.action.set_description(a.description);
      ap.action.set_staff_id(plan.owner.staff_id);
      if (a.cost_yuan > 0) {
        ap.action.mutable_cost()->set_currency_code("CNY");
        ap.action.mutable_cost()->set_amount_minor(a.cost_yuan * 100);
      }
      ap.request_id = RequestId(absl::StrCat("c", number, "-retention-a", k + 1));
      rp.actions.push_back(std::move(ap));
    }
    if (won_back) {
      rp.outcome = pb::RETENTION_OUTCOME_RETAINED;
      rp.outcome_note = "客户业务量已恢复，续签一年";
    } else if (rp.churned && rng.Percent(70)) {
      rp.outcome = pb::RETENTION_OUTCOME_LOST;
      rp.outcome_note = "客户已转向其他供应商";
    } else if (!rp.churned && rng.Percent(50)) {
      rp.outcome = rng.Percent(50) ? pb::RETENTION_OUTCOME_PARTIALLY_RETAINED : pb::RETENTION_OUTCOME_RETAINED;
      rp.outcome_note = "客户保留部分业务，持续跟进";
    }
    plan.retention = std::move(rp);
  }
  return plan;
}

SurveyPlan DemoGenerator::Survey(int customer_count) const {
  SurveyPlan s;
  std::string month = Period(absl::CivilMonth(absl::ToCivilDay(anchor_, zone_)));
  s.campaign = absl::StrCat(month, " 满意度回访（演示）");
  s.request_id = RequestId(absl::StrCat("survey-", month));
  s.served_to = anchor_;
  s.served_from = anchor_ - absl::Hours(24 * 90);
  s.sample_size = std::max(5, customer_count / 8);
  s.seed = static_cast<int64_t>(seed_);
  return s;
}

SurveyResultPlan DemoGenerator::SurveyAnswer(int64_t customer_id) const {
  Rng rng(seed_ ^ 0x5375727665790000ull, static_cast<uint64_t>(customer_id));
  SurveyResultPlan r;
  r.answered = rng.Percent(70);
  if (!r.answered) return r;
  static const std::vector<std::vector<std::string>> kComments = {
      {"问题反复出现，很不满意", "投诉后一直没人跟进"},
      {"客服电话难打通，不太满意", "维修等了一周"},
      {"一般，问题解决得有点慢", "价格偏高，服务中规中矩"},
      {"整体满意，希望交付再快一些", "服务不错"},
      {"服务非常专业，响应及时", "工程师很耐心，非常满意"},
  };
  int level = 1 + static_cast<int>(rng.Weighted({5, 10, 15, 35, 35}));
  r.satisfaction = static_cast<pb::Satisfaction>(level);
  r.comment = rng.Percent(80) ? rng.Pick(kComments[level - 1]) : "";
  return r;
}

}  // namespace kefu::demo
