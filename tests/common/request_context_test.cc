#include "common/request_context.h"

#include <gtest/gtest.h>

namespace hl {
namespace {

struct ContextCase {
  std::string name;
  std::string referer;
  std::string user_agent;
  std::string want_referer;  // when accepted
  std::string want_reason;   // "" when accepted
};

class MakeRequestContextTest : public ::testing::TestWithParam<ContextCase> {};

TEST_P(MakeRequestContextTest, ValidatesAndNormalises) {
  const ContextCase& c = GetParam();
  auto context = MakeRequestContext(c.referer, c.user_agent);
  if (!c.want_reason.empty()) {
    ASSERT_FALSE(context.ok());
    EXPECT_EQ(context.error().reason, c.want_reason);
    EXPECT_FALSE(context.error().detail.empty());
    return;
  }
  ASSERT_TRUE(context.ok()) << context.error().detail;
  EXPECT_EQ(context->referer(), c.want_referer);
  EXPECT_EQ(context->user_agent(), c.user_agent);
}

const std::string kLongAgent(kMaxUserAgentBytes + 1, 'a');

INSTANTIATE_TEST_SUITE_P(
    Cases, MakeRequestContextTest,
    ::testing::Values(
        ContextCase{"empty", "", "", "", ""},
        ContextCase{"referer_normalised", "HTTPS://Forum.Example:443/t?id=1#x",
                    "", "https://forum.example/t?id=1", ""},
        ContextCase{"user_agent_kept", "", "Mozilla/5.0 (X11; Linux)", "", ""},
        ContextCase{"both", "http://a.example/", "curl/8", "http://a.example/",
                    ""},
        ContextCase{"referer_not_http", "ftp://a.example/", "", "",
                    "invalid referer"},
        ContextCase{"referer_garbage", "not a url", "", "", "invalid referer"},
        ContextCase{"user_agent_crlf_injection", "", "x\r\nX-Evil: 1", "",
                    "invalid user agent"},
        ContextCase{"user_agent_tab", "", "a\tb", "", "invalid user agent"},
        ContextCase{"user_agent_too_long", "", kLongAgent, "",
                    "invalid user agent"}),
    [](const auto& info) { return info.param.name; });

TEST(JobKey, IsTheUrlAloneWithoutContext) {
  EXPECT_EQ(JobKey("http://a/", hostlocator::v1::RequestContext()),
            "http://a/");
}

TEST(JobKey, TellsContextsApart) {
  hostlocator::v1::RequestContext referer_only, agent_only, both;
  referer_only.set_referer("http://r/");
  agent_only.set_user_agent("http://r/");
  both.set_referer("http://r/");
  both.set_user_agent("ua");
  const std::vector<std::string> keys = {
      JobKey("http://a/", {}), JobKey("http://a/", referer_only),
      JobKey("http://a/", agent_only), JobKey("http://a/", both)};
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = i + 1; j < keys.size(); ++j) {
      EXPECT_NE(keys[i], keys[j]) << i << " vs " << j;
    }
  }
  EXPECT_EQ(JobKey("http://a/", both), JobKey("http://a/", both));
}

}  // namespace
}  // namespace hl
