#include "common/protocol.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>

#include "common/referral.h"

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

TEST(DecodeInboundTest, KeepsTheObservationsAsSent) {
  pb::Envelope envelope;
  for (uint64_t job_id : {7, 8}) {
    pb::JobResult* result = envelope.mutable_results()->add_results();
    result->set_job_id(job_id);
    result->set_attempt(2);
    *result->mutable_observation() = FullObservation();
  }
  auto inbound = DecodeInbound(EncodeEnvelope(envelope));
  ASSERT_TRUE(inbound.ok()) << inbound.status().message();
  ASSERT_EQ(inbound->results().results_size(), 2);
  EXPECT_EQ(inbound->results().results(0).job_id(), 7u);
  EXPECT_EQ(inbound->results().results(1).job_id(), 8u);
  EXPECT_EQ(inbound->results().results(1).attempt(), 2u);
  EXPECT_EQ(inbound->results().results(1).observation(),
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

// A version 1 worker's RESULT (one result, field 4) is refused for its
// version, naming both, on either side.
TEST(DecodeInboundTest, RefusesAVersion1Result) {
  pb::SerializedJobResult result;
  result.set_job_id(7);
  result.set_observation(FullObservation().SerializeAsString());
  const std::string body = result.SerializeAsString();
  std::string bytes = "\x08\x01\x22";  // protocol_version 1, field 4
  bytes += static_cast<char>(0x80 | (body.size() & 0x7f));
  bytes += static_cast<char>(body.size() >> 7);
  ASSERT_LT(body.size(), size_t{1} << 14);
  bytes += body;
  for (const Status& status :
       {DecodeInbound(bytes).status(), DecodeEnvelope(bytes).status()}) {
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(status.message().find("version 1"), std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find("version 2"), std::string::npos)
        << status.message();
  }
}

TEST(EncodeResultTest, IsAResultOfARESULTSEnvelope) {
  pb::Observation sources;
  sources.add_data_sources()->set_role("country");
  pb::Observation whole = FullObservation();
  whole.MergeFrom(sources);
  const std::string result =
      EncodeResult(7, 2, FullObservation(), sources.SerializeAsString());
  const std::vector<std::string> batches = EncodeResultBatches({result});
  ASSERT_EQ(batches.size(), 1u);
  auto decoded = DecodeEnvelope(batches[0]);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->results().results_size(), 1);
  EXPECT_EQ(decoded->results().results(0).job_id(), 7u);
  EXPECT_EQ(decoded->results().results(0).attempt(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      decoded->results().results(0).observation(), whole));
}

// The bytes are those of the serializers of SerializedJobResult and
// InboundEnvelope, default values (left out by proto3) included.
TEST(EncodeResultTest, WritesWhatTheSerializerWrites) {
  // data_sources {role: ""}
  const std::string suffix("\x5a\x02\x0a\x00", 4);
  pb::InboundEnvelope envelope;
  envelope.set_protocol_version(kProtocolVersion);
  std::vector<std::string> results;
  for (uint64_t job_id : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40}) {
    for (uint32_t attempt : {0u, 3u, 300u}) {
      for (const pb::Observation& observation :
           {pb::Observation(), FullObservation()}) {
        for (const std::string& tail : {std::string(), suffix}) {
          pb::SerializedJobResult& result =
              *envelope.mutable_results()->add_results();
          result.set_job_id(job_id);
          result.set_attempt(attempt);
          result.set_observation(observation.SerializeAsString() + tail);
          results.push_back(EncodeResult(job_id, attempt, observation, tail));
          EXPECT_EQ(results.back(), result.SerializeAsString())
              << job_id << " " << attempt << " " << observation.ByteSizeLong()
              << " " << tail.size();
        }
      }
    }
  }
  const std::vector<std::string> batches =
      EncodeResultBatches({results.begin(), results.end()});
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0], envelope.SerializeAsString());
}

// Batches keep the results in order, each envelope within the bound unless
// it carries a single result larger than the bound.
TEST(EncodeResultBatchesTest, SplitsAtTheBound) {
  std::vector<std::string> results;
  for (uint64_t job_id = 1; job_id <= 6; ++job_id) {
    pb::Observation observation;
    observation.set_host(std::string(job_id == 4 ? 300 : 40, 'h'));
    results.push_back(EncodeResult(job_id, 1, observation, ""));
  }
  const std::vector<std::string_view> views(results.begin(), results.end());
  struct Case {
    size_t max_bytes;
    std::vector<size_t> results_per_batch;
  };
  // In the batch, a result of 40 host bytes takes 50 bytes (tag and
  // length included), the one of 300 takes 313; the envelope adds 4 bytes
  // (5 from 128 batch bytes on).
  ASSERT_EQ(results[0].size() + 2, 50u);
  ASSERT_EQ(results[3].size() + 3, 313u);
  for (const Case& c : {
           Case{1 << 20, {6}},
           Case{5 + 3 * 50 + 313, {4, 2}},
           Case{5 + 3 * 50 + 313 - 1, {3, 3}},
           Case{4 + 2 * 50 + 1, {2, 1, 1, 2}},
           Case{10, {1, 1, 1, 1, 1, 1}},
       }) {
    const std::vector<std::string> batches =
        EncodeResultBatches(views, c.max_bytes);
    std::vector<size_t> per_batch;
    std::vector<uint64_t> order;
    for (const std::string& batch : batches) {
      auto decoded = DecodeInbound(batch);
      ASSERT_TRUE(decoded.ok()) << decoded.status().message();
      per_batch.push_back(decoded->results().results_size());
      if (per_batch.back() > 1) {
        EXPECT_LE(batch.size(), c.max_bytes);
      }
      for (const auto& result : decoded->results().results()) {
        order.push_back(result.job_id());
      }
    }
    EXPECT_EQ(per_batch, c.results_per_batch) << c.max_bytes;
    EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6})) << c.max_bytes;
  }
  EXPECT_TRUE(EncodeResultBatches({}).empty());
}

std::string Join(const std::vector<std::string_view>& pieces) {
  std::string out;
  for (std::string_view piece : pieces) out += piece;
  return out;
}

TEST(SplitForStorageTest, CutsOffEveryDataSourceAndKeepsTheRest) {
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
    auto split = SplitForStorage(c.bytes);
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
  EXPECT_FALSE(SplitForStorage(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(SplitForStorage("\xff\xff\xff").ok());
}

}  // namespace
}  // namespace hl
