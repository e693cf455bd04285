// Test helper for the fleet fault tests (fleet_test.py), standing in for the
// HTTP API that does not exist yet:
//   fleet_tool seed DATA_DIR URLS_FILE   ingest a URL list (synced) and
//                                        print "seeded N jobs"
//   fleet_tool status DATA_DIR           one JSON object: job counts by
//                                        state and the results per job,
//                                        read while a coordinator serves
//   fleet_tool garbage ENDPOINT          malformed, truncated, oversized and
//                                        multi-frame messages to a
//                                        coordinator, then READY; exit 0 when
//                                        it still answers
//   fleet_tool foreign-worker ENDPOINT   READY of another protocol version to
//                                        a coordinator; prints the reason of
//                                        its DISCONNECT
//   fleet_tool foreign-coordinator ENDPOINT
//                                        binds a ROUTER, answers a worker's
//                                        first message with another protocol
//                                        version
//   fleet_tool set-schema DATA_DIR N     writes store schema version N into
//                                        a data folder (no store open)
#include <rocksdb/db.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/protocol.h"
#include "coordinator/ingest.h"
#include "coordinator/input.h"
#include "coordinator/store.h"

namespace {

namespace pb = ::hostlocator::v1;

int Seed(const std::string& dir, const std::string& file) {
  auto store = hl::coordinator::Store::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  auto reader = hl::coordinator::InputReader::Open(file);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().message().c_str());
    return 1;
  }
  hl::coordinator::BatchSpec spec;
  spec.source = file;
  spec.submitter = "fleet-test";
  auto summary = hl::coordinator::IngestBatch(**store, **reader, spec,
                                              hl::SystemClockMs(), nullptr);
  if (!summary.ok()) {
    std::fprintf(stderr, "%s\n", summary.status().message().c_str());
    return 1;
  }
  std::printf("seeded %llu jobs\n",
              static_cast<unsigned long long>(summary->new_jobs));
  return 0;
}

int Status(const std::string& dir) {
  auto store = hl::coordinator::Store::OpenReadOnly(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  std::map<std::string, uint64_t> states;
  std::map<uint32_t, uint64_t> checks;
  uint64_t jobs = 0;
  hl::Status s = (*store)->ForEachJob([&](const pb::JobRecord& job) {
    ++jobs;
    ++states[pb::JobState_Name(job.state())];
    ++checks[job.checks()];
    return hl::Status::Ok();
  });
  if (!s.ok()) return 1;
  std::printf("{\"jobs\": %llu, \"states\": {",
              static_cast<unsigned long long>(jobs));
  const char* sep = "";
  for (const auto& [name, n] : states) {
    std::printf("%s\"%s\": %llu", sep, name.c_str(),
                static_cast<unsigned long long>(n));
    sep = ", ";
  }
  std::printf("}, \"checks\": {");
  sep = "";
  for (const auto& [n, count] : checks) {
    std::printf("%s\"%u\": %llu", sep, n,
                static_cast<unsigned long long>(count));
    sep = ", ";
  }
  std::printf("}}\n");
  return 0;
}

int Garbage(const std::string& endpoint) {
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  pb::Envelope ready;
  ready.mutable_ready()->set_worker_name("garbage");
  ready.mutable_ready()->set_capacity(0);
  const std::string valid = hl::EncodeEnvelope(ready);
  // In this order: ZeroMQ drops the oversized message with its connection,
  // after the broker has read the others.
  const std::string messages[] = {
      "",                                 // empty: version 0
      "\xff\xff\xff\xff garbage",         // undecodable
      valid.substr(0, valid.size() - 1),  // truncated
  };
  for (const std::string& m : messages) dealer.send(zmq::buffer(m));
  dealer.send(zmq::buffer(valid), zmq::send_flags::sndmore);  // 2 frames
  dealer.send(zmq::buffer(valid));
  dealer.send(zmq::buffer(std::string(hl::kMaxMessageBytes + 1, 'x')));
  // Still served: a READY is answered with heartbeats. The oversized
  // message makes ZeroMQ drop the connection, so READY is sent again until
  // the DEALER's reconnection carries it.
  dealer.set(zmq::sockopt::rcvtimeo, 250);
  zmq::message_t reply;
  bool answered = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    dealer.send(zmq::buffer(valid));
    answered = dealer.recv(reply).has_value();
  }
  if (!answered) {
    std::fprintf(stderr, "no answer from %s after the garbage\n",
                 endpoint.c_str());
    return 1;
  }
  pb::Envelope bye;
  bye.mutable_disconnect()->set_reason("garbage test done");
  dealer.send(zmq::buffer(hl::EncodeEnvelope(bye)));
  std::printf("coordinator still answers\n");
  return 0;
}

int ForeignWorker(const std::string& endpoint) {
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.connect(endpoint);
  pb::Envelope ready;
  ready.set_protocol_version(hl::kProtocolVersion + 1);
  ready.mutable_ready()->set_worker_name("foreign");
  ready.mutable_ready()->set_capacity(10);
  dealer.send(zmq::buffer(ready.SerializeAsString()));
  zmq::message_t reply;
  pb::Envelope answer;
  if (!dealer.recv(reply) ||
      !answer.ParseFromArray(reply.data(), static_cast<int>(reply.size())) ||
      !answer.has_disconnect()) {
    std::fprintf(stderr, "no DISCONNECT from %s\n", endpoint.c_str());
    return 1;
  }
  std::printf("%s\n", answer.disconnect().reason().c_str());
  return 0;
}

int ForeignCoordinator(const std::string& endpoint) {
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 1000);
  router.set(zmq::sockopt::rcvtimeo, 10000);
  router.bind(endpoint);
  zmq::message_t peer, body;
  if (!router.recv(peer) || !router.recv(body)) return 1;
  pb::Envelope heartbeat;
  heartbeat.set_protocol_version(hl::kProtocolVersion + 1);
  heartbeat.mutable_heartbeat();
  router.send(peer, zmq::send_flags::sndmore);
  router.send(zmq::buffer(heartbeat.SerializeAsString()));
  std::printf("answered with protocol version %u\n", hl::kProtocolVersion + 1);
  return 0;
}

int SetSchema(const std::string& dir, const std::string& version) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (s.ok()) s = rocksdb::DB::Open(options, dir, families, &handles, &db);
  for (size_t i = 0; s.ok() && i < names.size(); ++i) {
    if (names[i] == "meta") {
      s = db->Put(rocksdb::WriteOptions(), handles[i], "schema_version",
                  version);
    }
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  delete db;
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "seed" && argc == 4) return Seed(argv[2], argv[3]);
  if (command == "status" && argc == 3) return Status(argv[2]);
  if (command == "garbage" && argc == 3) return Garbage(argv[2]);
  if (command == "foreign-worker" && argc == 3) return ForeignWorker(argv[2]);
  if (command == "foreign-coordinator" && argc == 3) {
    return ForeignCoordinator(argv[2]);
  }
  if (command == "set-schema" && argc == 4) return SetSchema(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: fleet_tool seed DATA_DIR URLS | status DATA_DIR | "
               "garbage ENDPOINT | foreign-worker ENDPOINT | "
               "foreign-coordinator ENDPOINT | set-schema DATA_DIR N\n");
  return 2;
}
