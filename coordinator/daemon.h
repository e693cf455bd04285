// The `hostlocator-coordinator` daemon's serving logic (coordinator/main.cc
// only wires it to the command line): the store, the broker on the
// configured endpoint, CURVE with a ZAP handler, and a clean stop.
//
// Threads: Serve runs the broker on the calling thread; the HTTP API (when
// api.tokens_file is set) serves on its own threads and shares the Store,
// which is thread-safe. The ZAP handler has its own thread, and so has the
// RDAP enrichment (coordinator/enricher.h) when rdap.enabled is set.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <zmq.hpp>

#include "common/config.h"
#include "common/status.h"
#include "coordinator/api.h"
#include "coordinator/broker.h"
#include "coordinator/enricher.h"
#include "coordinator/retention.h"
#include "coordinator/store.h"
#include "coordinator/zap.h"

namespace hl::coordinator {

class CoordinatorDaemon {
 public:
  // Opens (or creates) the store in `data_dir`, re-queues the jobs a
  // previous process left leased, loads the CURVE keys and starts the ZAP
  // handler when coordinator.secret_key_file is set, and binds
  // coordinator.listen. Refuses a TCP endpoint that leaves the host
  // without keys unless coordinator.allow_plaintext (common/curve.h).
  static Result<std::unique_ptr<CoordinatorDaemon>> Start(
      const Config& config, const std::string& data_dir);
  ~CoordinatorDaemon();

  // Serves workers (and the API) until `stop` becomes true, then stops the
  // API, tells the workers it stops (their leased jobs go back to the
  // queue) and logs the counters. With coordinator.retention_days set, a
  // thread purges what is older at start and every
  // RetentionSchedule::kPurgePeriodMs (a failed purge is logged, serving
  // goes on).
  Status Serve(const std::atomic<bool>& stop);

  zmq::context_t& context() { return context_; }
  Store& store() { return *store_; }
  const BrokerStats& stats() const { return broker_->stats(); }

 private:
  CoordinatorDaemon() = default;
  // Runs `schedule` until retention_stop_.
  void ApplyRetention(RetentionSchedule& schedule);

  // Members in construction order; destroyed in reverse, the context last.
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Broker> broker_;
  // Null when rdap.enabled is false; uses the store.
  std::unique_ptr<EnrichmentService> enrichment_;
  // Null when api.tokens_file is empty; its threads use the broker and the
  // store, so it is destroyed (stopped) first.
  std::unique_ptr<ApiServer> api_;
  uint32_t retention_days_ = 0;
  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool retention_stop_ = false;  // guarded by retention_mu_
};

}  // namespace hl::coordinator
