#include "coordinator/input.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace hl::coordinator {
namespace {

struct Expected {
  uint64_t line;
  std::string url;
  bool truncated = false;
  std::string referer = {};
  std::string user_agent = {};
};

struct InputCase {
  std::string name;
  std::string text;
  std::vector<Expected> lines;
  bool csv = false;
};

std::vector<Expected> ReadAll(InputReader& reader) {
  std::vector<Expected> got;
  while (true) {
    auto next = reader.Next();
    EXPECT_TRUE(next.ok());
    if (!next.ok() || !next->has_value()) break;
    got.push_back({(*next)->line, (*next)->url, (*next)->truncated,
                   (*next)->referer, (*next)->user_agent});
  }
  return got;
}

// Reads `text` from a file; checks that reading it from memory gives the
// same lines.
std::vector<Expected> ReadAll(const std::string& text, bool* csv) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("hl-input-test-" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  auto reader = InputReader::Open(path.string());
  EXPECT_TRUE(reader.ok());
  const std::vector<Expected> got = ReadAll(**reader);
  *csv = (*reader)->csv();
  std::filesystem::remove(path);
  auto in_memory = InputReader::FromText(text);
  EXPECT_TRUE(in_memory.ok());
  const std::vector<Expected> from_memory = ReadAll(**in_memory);
  EXPECT_EQ(from_memory.size(), got.size());
  for (size_t i = 0; i < got.size() && i < from_memory.size(); ++i) {
    EXPECT_EQ(from_memory[i].line, got[i].line);
    EXPECT_EQ(from_memory[i].url, got[i].url);
    EXPECT_EQ(from_memory[i].truncated, got[i].truncated);
  }
  EXPECT_EQ((*in_memory)->csv(), *csv);
  return got;
}

class InputReaderTest : public ::testing::TestWithParam<InputCase> {};

TEST_P(InputReaderTest, YieldsEveryUrlLineWithItsNumber) {
  const InputCase& c = GetParam();
  bool csv = false;
  const auto got = ReadAll(c.text, &csv);
  EXPECT_EQ(csv, c.csv);
  ASSERT_EQ(got.size(), c.lines.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].line, c.lines[i].line) << i;
    EXPECT_EQ(got[i].url, c.lines[i].url) << i;
    EXPECT_EQ(got[i].truncated, c.lines[i].truncated) << i;
    EXPECT_EQ(got[i].referer, c.lines[i].referer) << i;
    EXPECT_EQ(got[i].user_agent, c.lines[i].user_agent) << i;
  }
}

const std::string kLong(kMaxInputLineBytes + 10, 'a');

INSTANTIATE_TEST_SUITE_P(
    Cases, InputReaderTest,
    ::testing::Values(
        InputCase{"plain",
                  "http://a/\nhttp://b/\n",
                  {{1, "http://a/"}, {2, "http://b/"}}},
        InputCase{"no_final_newline", "http://a/", {{1, "http://a/"}}},
        InputCase{"comments_and_blanks_skipped_numbers_kept",
                  "# list\n\nhttp://a/\n   \n  # indented comment\nhttp://b/\n",
                  {{3, "http://a/"}, {6, "http://b/"}}},
        InputCase{"crlf_and_bom",
                  "\xEF\xBB\xBFhttp://a/\r\nhttp://b/\r\n",
                  {{1, "http://a/"}, {2, "http://b/"}}},
        InputCase{"whitespace_kept_for_the_normaliser",
                  " http://a/ \n",
                  {{1, " http://a/ "}}},
        InputCase{"csv_with_url_column",
                  "id,url,note\n1,http://a/,x\n2,\"http://b/?q=1,2\",\"say "
                  "\"\"hi\"\"\"\n",
                  {{2, "http://a/"}, {3, "http://b/?q=1,2"}},
                  true},
        InputCase{"csv_header_case_insensitive_after_comment",
                  "# export\nURL,Referer\nhttp://a/,http://r/\n",
                  {{3, "http://a/", false, "http://r/"}},
                  true},
        InputCase{"csv_request_context_columns",
                  "User-Agent,URL,Referrer\n"
                  "UA/1,http://a/,http://r/\n,http://b/,\n",
                  {{2, "http://a/", false, "http://r/", "UA/1"},
                   {3, "http://b/", false, "", ""}},
                  true},
        InputCase{"csv_single_url_column",
                  "url\nhttp://a/\n",
                  {{2, "http://a/"}},
                  true},
        InputCase{"csv_row_missing_the_column", "id,url\n7\n", {{2, ""}}, true},
        InputCase{"comma_in_plain_url_is_not_csv",
                  "http://a/x,y\nhttp://b/\n",
                  {{1, "http://a/x,y"}, {2, "http://b/"}}},
        InputCase{
            "overlong_line_truncated_and_flagged",
            kLong + "\nhttp://b/\n",
            {{1, kLong.substr(0, kMaxInputLineBytes), true}, {2, "http://b/"}}},
        InputCase{"url_line_naming_url_is_not_a_header",
                  "http://x.test/a,url\nhttp://b/\n",
                  {{1, "http://x.test/a,url"}, {2, "http://b/"}}},
        InputCase{"empty_file", "", {}},
        InputCase{"nul_bytes_passed_through",
                  std::string("http://a\0/\n", 11),
                  {{1, std::string("http://a\0/", 10)}}}),
    [](const auto& info) { return info.param.name; });

TEST(InputReader, MissingFileSaysWhichFile) {
  auto reader = InputReader::Open("/nonexistent/urls.txt");
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("/nonexistent/urls.txt"),
            std::string::npos);
}

TEST(SplitCsvRecord, QuotingFollowsRfc4180) {
  EXPECT_EQ(SplitCsvRecord("a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitCsvRecord("\"a,b\",c"),
            (std::vector<std::string>{"a,b", "c"}));
  EXPECT_EQ(SplitCsvRecord("\"a\"\"b\""), (std::vector<std::string>{"a\"b"}));
  EXPECT_EQ(SplitCsvRecord(""), (std::vector<std::string>{""}));
  EXPECT_EQ(SplitCsvRecord(",,"), (std::vector<std::string>{"", "", ""}));
}

}  // namespace
}  // namespace hl::coordinator
