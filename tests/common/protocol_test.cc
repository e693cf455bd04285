#include "common/protocol.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

pb::Observation FullObservation() {
  pb::Observation obs;
  obs.set_url("http://www.example.com/");
  obs.set_host("www.example.com");
  obs.set_status("error");
  obs.mutable_error()->set_error_class("connect_failed");
  obs.mutable_error()->set_message("refused");
  obs.mutable_dns()->add_queries()->set_type("A");
  for (const char* ip : {"192.0.2.1", "2001:db8::1"}) {
    pb::AddressInfo* address = obs.add_addresses();
    address->set_ip(ip);
    address->set_country("NL");
  }
  obs.mutable_http()->set_status(200);
  obs.mutable_http()->set_elapsed_ms(37);
  obs.mutable_http()->add_headers()->set_name("server");
  obs.mutable_verdict()->add_reasons("a reason");
  obs.add_data_sources()->set_role("country");
  obs.set_worker("w1");
  return obs;
}

TEST(SummarizeObservationTest, ReadsWhatTheCoordinatorNeeds) {
  auto summary = SummarizeObservation(FullObservation().SerializeAsString());
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->host, "www.example.com");
  EXPECT_EQ(summary->status, "error");
  EXPECT_EQ(summary->error_class, "connect_failed");
  EXPECT_EQ(summary->http_elapsed_ms, 37u);
  EXPECT_EQ(summary->addresses,
            (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
}

TEST(SummarizeObservationTest, EmptyObservationHasEmptySummary) {
  auto summary = SummarizeObservation("");
  ASSERT_TRUE(summary.ok());
  EXPECT_TRUE(summary->status.empty());
  EXPECT_TRUE(summary->addresses.empty());
  EXPECT_EQ(summary->http_elapsed_ms, 0u);
}

// Every cut of a valid encoding, and a few corruptions of it, are refused
// (the store would otherwise keep a record that no reader can decode).
TEST(SummarizeObservationTest, RefusesBrokenStructure) {
  const std::string good = FullObservation().SerializeAsString();
  for (size_t cut = 1; cut < good.size(); ++cut) {
    const std::string truncated = good.substr(0, cut);
    pb::Observation parsed;
    if (parsed.ParseFromString(truncated)) continue;  // a field boundary
    EXPECT_FALSE(SummarizeObservation(truncated).ok()) << "cut at " << cut;
  }
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"tag 0", std::string("\x00\x01", 2)},
      {"end group without start", "\x0c"},
      {"tag cut short", "\xff\xff\xff"},
      {"length past the end",
       "\x12\x7f"
       "abc"},
      {"status not UTF-8", "\x1a\x02\xc3\x28"},
      {"status as varint", "\x18\x01"},
      {"http elapsed_ms as bytes", "\x42\x03\x52\x01x"},
      {"error length past its message",
       "\x22\x05\x0a\x09"
       "abcd"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(SummarizeObservation(c.bytes).ok()) << c.name;
  }
}

TEST(DecodeInboundTest, KeepsTheObservationAsSent) {
  pb::Envelope envelope;
  envelope.mutable_result()->set_job_id(7);
  envelope.mutable_result()->set_attempt(2);
  *envelope.mutable_result()->mutable_observation() = FullObservation();
  auto inbound = DecodeInbound(EncodeEnvelope(envelope));
  ASSERT_TRUE(inbound.ok()) << inbound.status().message();
  ASSERT_TRUE(inbound->has_result());
  EXPECT_EQ(inbound->result().job_id(), 7u);
  EXPECT_EQ(inbound->result().attempt(), 2u);
  EXPECT_EQ(inbound->result().observation(),
            FullObservation().SerializeAsString());

  pb::Envelope ready;
  ready.mutable_ready()->set_capacity(5);
  auto decoded = DecodeInbound(EncodeEnvelope(ready));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->ready().capacity(), 5u);

  ready.set_protocol_version(kProtocolVersion + 1);
  EXPECT_EQ(DecodeInbound(ready.SerializeAsString()).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(EncodeResultTest, IsARESULTEnvelopeAroundTheBytes) {
  pb::Observation sources;
  sources.add_data_sources()->set_role("country");
  pb::Observation whole = FullObservation();
  whole.MergeFrom(sources);
  auto decoded = DecodeEnvelope(
      EncodeResult(7, 2, FullObservation(), sources.SerializeAsString()));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_TRUE(decoded->has_result());
  EXPECT_EQ(decoded->result().job_id(), 7u);
  EXPECT_EQ(decoded->result().attempt(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      decoded->result().observation(), whole));
}

// The bytes are those of InboundEnvelope's own serializer, default values
// (left out by proto3) included.
TEST(EncodeResultTest, WritesWhatTheSerializerWrites) {
  // data_sources {role: ""}
  const std::string suffix("\x5a\x02\x0a\x00", 4);
  for (uint64_t job_id : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40}) {
    for (uint32_t attempt : {0u, 3u, 300u}) {
      for (const pb::Observation& observation :
           {pb::Observation(), FullObservation()}) {
        for (const std::string& tail : {std::string(), suffix}) {
          pb::InboundEnvelope envelope;
          envelope.set_protocol_version(kProtocolVersion);
          pb::SerializedJobResult& result = *envelope.mutable_result();
          result.set_job_id(job_id);
          result.set_attempt(attempt);
          result.set_observation(observation.SerializeAsString() + tail);
          EXPECT_EQ(EncodeResult(job_id, attempt, observation, tail),
                    envelope.SerializeAsString())
              << job_id << " " << attempt << " " << observation.ByteSizeLong()
              << " " << tail.size();
        }
      }
    }
  }
}

std::string Join(const std::vector<std::string_view>& pieces) {
  std::string out;
  for (std::string_view piece : pieces) out += piece;
  return out;
}

TEST(SplitDataSourcesTest, CutsOffEveryEntryAndKeepsTheRest) {
  pb::Observation sources;
  sources.add_data_sources()->set_role("country");
  sources.add_data_sources()->set_role("asn");
  pb::Observation rest = FullObservation();
  rest.clear_data_sources();
  struct Case {
    const char* name;
    std::string bytes;
    size_t rest_pieces;
    size_t source_pieces;
  };
  // Entries between other fields (as a serializer writes them, field 11
  // before 12) and appended after them (as a worker sends them).
  const std::vector<Case> cases = {
      {"serialized", FullObservation().SerializeAsString(), 2, 1},
      {"appended", rest.SerializeAsString() + sources.SerializeAsString(), 1,
       1},
      {"none", rest.SerializeAsString(), 1, 0},
      {"empty", "", 0, 0},
  };
  for (const Case& c : cases) {
    auto split = SplitDataSources(c.bytes);
    ASSERT_TRUE(split.ok()) << c.name;
    EXPECT_EQ(split->rest.size(), c.rest_pieces) << c.name;
    EXPECT_EQ(split->data_sources.size(), c.source_pieces) << c.name;
    pb::Observation without;
    ASSERT_TRUE(without.ParseFromString(Join(split->rest))) << c.name;
    EXPECT_EQ(without.data_sources_size(), 0) << c.name;
    pb::Observation whole;
    ASSERT_TRUE(whole.ParseFromString(c.bytes));
    pb::Observation entries;
    ASSERT_TRUE(entries.ParseFromString(Join(split->data_sources)));
    EXPECT_EQ(entries.data_sources_size(), whole.data_sources_size()) << c.name;
    without.MergeFrom(entries);
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(without, whole))
        << c.name;
  }
  const std::string bytes = FullObservation().SerializeAsString();
  EXPECT_FALSE(SplitDataSources(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(SplitDataSources("\xff\xff\xff").ok());
}

}  // namespace
}  // namespace hl
