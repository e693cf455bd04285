// The `hostlocator-coordinator` daemon's serving logic (coordinator/main.cc
// only wires it to the command line): the store, the broker on the
// configured endpoint, CURVE with a ZAP handler, and a clean stop.
//
// Threads: Serve runs the broker on the calling thread, which owns the
// Store; an API server added beside it shares context() but must hand its
// store work to that thread. The ZAP handler has its own thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/config.h"
#include "common/status.h"
#include "coordinator/broker.h"
#include "coordinator/store.h"
#include "coordinator/zap.h"

namespace hl::coordinator {

// The broker settings of [coordinator] for `endpoint`, without CURVE.
BrokerOptions BrokerOptionsFrom(const Config& config,
                                const std::string& endpoint);

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

  // Serves workers until `stop` becomes true, then tells them it stops
  // (their leased jobs go back to the queue) and logs the counters.
  Status Serve(const std::atomic<bool>& stop);

  zmq::context_t& context() { return context_; }
  Store& store() { return *store_; }
  const BrokerStats& stats() const { return broker_->stats(); }

 private:
  CoordinatorDaemon() = default;

  // Members in construction order; destroyed in reverse, the context last.
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Broker> broker_;
};

}  // namespace hl::coordinator
