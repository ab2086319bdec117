// CSV as spreadsheets write it, read and written by kefuctl's import and export.
#include <gtest/gtest.h>

#include "csv.h"

namespace kefuctl::csv {
namespace {

TEST(Csv, ReadsQuotedFieldsChineseTextAndBothLineEnds) {
  auto records = Parse("\xEF\xBB\xBFname,phone,address\r\n"
                       "\"上海华信科技有限公司\",13812345678,\"浦东新区, 张江路 88号\"\r\n"
                       "\"说 \"\"好\"\" 的\",,\"第一行\n第二行\"\n"
                       "\n"
                       "last,row,without end");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0], Record({"name", "phone", "address"}));  // the byte-order mark is dropped
  EXPECT_EQ((*records)[1], Record({"上海华信科技有限公司", "13812345678", "浦东新区, 张江路 88号"}));
  EXPECT_EQ((*records)[2], Record({"说 \"好\" 的", "", "第一行\n第二行"}));
  EXPECT_EQ((*records)[3], Record({"last", "row", "without end"}));
}

TEST(Csv, RefusesBrokenQuotingNamingTheLine) {
  auto open = Parse("a,b\n\"never closed,1\n2,3\n");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("line 2"), std::string::npos) << open.status();
  auto stray = Parse("a,b\nx\"y,1\n");
  ASSERT_FALSE(stray.ok());
  EXPECT_NE(stray.status().message().find("line 2"), std::string::npos) << stray.status();
}

TEST(Csv, WritesWhatItReadsBack) {
  Record record = {"plain", "with,comma", "with \"quote\"", "two\nlines", "", " padded ", "中文"};
  std::string line = FormatRecord(record);
  EXPECT_EQ(line.substr(0, 18), "plain,\"with,comma\"");
  auto back = Parse(line);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], record);
}

}  // namespace
}  // namespace kefuctl::csv
