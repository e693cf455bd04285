#include "coordinator/metrics.h"

#include <cstdio>

namespace hl::coordinator {
namespace {

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void Sample(const std::string& name, const std::string& labels,
              double value) {
    char number[32];
    std::snprintf(number, sizeof(number), "%.17g", value);
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += number;
    out_ += '\n';
  }
  void One(const char* name, const char* type, const char* help, double value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  void Histogram(const char* name, const char* help,
                 const LatencyHistogram& h) {
    Family(name, "histogram", help);
    for (size_t i = 0; i < h.kBoundsMs.size(); ++i) {
      char le[32];
      std::snprintf(le, sizeof(le), "le=\"%g\"", h.kBoundsMs[i] / 1000.0);
      Sample(std::string(name) + "_bucket", le, h.below[i]);
    }
    Sample(std::string(name) + "_bucket", "le=\"+Inf\"", h.count);
    Sample(std::string(name) + "_sum", "", h.sum_ms / 1000.0);
    Sample(std::string(name) + "_count", "", h.count);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetrics(const MetricsInput& in) {
  const BrokerStats& stats = in.broker.stats;
  Writer w;
  w.One("hostlocator_queue_depth", "gauge", "Jobs waiting for a worker.",
        in.queue_depth);
  w.One("hostlocator_jobs_in_flight", "gauge", "Jobs leased to workers.",
        in.in_flight);
  w.One("hostlocator_jobs_dispatched_total", "counter",
        "Jobs handed to workers.", stats.dispatched);
  w.Family("hostlocator_results_total", "counter",
           "Results stored, by status (rate() gives completed/s).");
  for (const auto& [status, n] : in.broker.results_by_status) {
    w.Sample("hostlocator_results_total",
             "status=\"" + EscapeLabelValue(status) + "\"", n);
  }
  w.Family("hostlocator_errors_total", "counter",
           "Results whose probe failed, by error class.");
  for (const auto& [error_class, n] : in.broker.errors_by_class) {
    w.Sample("hostlocator_errors_total",
             "class=\"" + EscapeLabelValue(error_class) + "\"", n);
  }
  w.One("hostlocator_duplicate_results_total", "counter",
        "Late or repeated results dropped.", stats.duplicate_results);
  w.One("hostlocator_jobs_requeued_total", "counter",
        "Leases ended without a result and re-queued.", stats.requeued);
  w.One("hostlocator_jobs_dead_total", "counter",
        "Jobs moved to the dead-letter state.", stats.dead_lettered);
  w.One("hostlocator_workers_lost_total", "counter",
        "Workers declared dead after silence.", stats.workers_lost);
  w.One("hostlocator_refused_messages_total", "counter",
        "Worker messages refused (malformed, oversized, wrong version).",
        stats.refused_messages);
  w.One("hostlocator_workers_connected", "gauge", "Workers connected now.",
        in.broker.workers.size());
  // One sample per connected worker; the worker's name is its only label.
  auto per_worker = [&](const char* name, const char* type, const char* help,
                        auto value) {
    w.Family(name, type, help);
    for (const auto& worker : in.broker.workers) {
      w.Sample(name, "worker=\"" + EscapeLabelValue(worker.name) + "\"",
               value(worker));
    }
  };
  per_worker("hostlocator_worker_results_total", "counter",
             "Results stored from each connected worker.",
             [](const WorkerFigures& worker) { return worker.results; });
  per_worker("hostlocator_worker_in_flight", "gauge",
             "Jobs leased to each connected worker.",
             [](const WorkerFigures& worker) { return worker.in_flight; });
  per_worker("hostlocator_worker_last_seen_seconds", "gauge",
             "Seconds since each connected worker was last heard from.",
             [&](const WorkerFigures& worker) {
               return std::max<int64_t>(0, in.now_ms - worker.last_seen_ms) /
                      1000.0;
             });
  w.Histogram("hostlocator_result_latency_seconds",
              "From lease to stored result.", in.broker.result_latency);
  w.Histogram("hostlocator_http_duration_seconds",
              "Duration of the HEAD exchange of a probe.",
              in.broker.http_latency);
  w.One("hostlocator_store_bytes", "gauge", "Size of the data folder on disk.",
        in.store_bytes);
  return w.Take();
}

}  // namespace hl::coordinator
