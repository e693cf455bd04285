#include "coordinator/metrics.h"

#include <algorithm>
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
    HistogramSamples(name, "", h);
  }
  // The samples of one histogram of a family; `labels` without le.
  void HistogramSamples(const std::string& name, const std::string& labels,
                        const LatencyHistogram& h) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (size_t i = 0; i < h.kBoundsMs.size(); ++i) {
      char le[32];
      std::snprintf(le, sizeof(le), "le=\"%g\"", h.kBoundsMs[i] / 1000.0);
      Sample(name + "_bucket", prefix + le, h.below[i]);
    }
    Sample(name + "_bucket", prefix + "le=\"+Inf\"", h.count);
    Sample(name + "_sum", labels, h.sum_ms / 1000.0);
    Sample(name + "_count", labels, h.count);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

void CountBounded(std::map<std::string, uint64_t>& counts,
                  const std::string& key, uint64_t n, size_t max_keys) {
  const bool plain =
      !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (plain && (counts.count(key) || counts.size() < max_keys)) {
    counts[key] += n;
  } else {
    counts["other"] += n;
  }
}

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
  // One sample per worker of `workers`; the worker's name is its only label.
  const auto label = [](const auto& worker) {
    return "worker=\"" + EscapeLabelValue(worker.name) + "\"";
  };
  auto each_worker = [&](const auto& workers, const char* name,
                         const char* type, const char* help, auto value) {
    w.Family(name, type, help);
    for (const auto& worker : workers) {
      w.Sample(name, label(worker), value(worker));
    }
  };
  // The broker's peers: one per worker thread (its name with /N).
  auto per_worker = [&](const char* name, const char* type, const char* help,
                        auto value) {
    each_worker(in.broker.workers, name, type, help, value);
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
  // What each worker process reported in its heartbeats (the label is its
  // --name); gone kReportGraceSilences silence windows after its last one.
  auto reported = [&](const char* name, const char* type, const char* help,
                      auto value) {
    each_worker(in.broker.reported, name, type, help, value);
  };
  reported("hostlocator_worker_up", "gauge",
           "1 when the worker process's last heartbeat is within the "
           "liveness window, 0 while it is silent.",
           [&](const ReportedWorker& worker) {
             return in.now_ms - worker.heard_ms <= in.broker.live_window_ms ? 1
                                                                            : 0;
           });
  reported("hostlocator_worker_report_age_seconds", "gauge",
           "Seconds since the worker process's last heartbeat figures.",
           [&](const ReportedWorker& worker) {
             return std::max<int64_t>(0, in.now_ms - worker.heard_ms) / 1000.0;
           });
  reported(
      "hostlocator_worker_probes_in_flight", "gauge",
      "Probes under way in the worker process.",
      [](const ReportedWorker& worker) { return worker.probes_in_flight; });
  reported("hostlocator_worker_dns_in_flight", "gauge",
           "DNS questions sent by the worker process, not yet answered.",
           [](const ReportedWorker& worker) { return worker.dns_in_flight; });
  reported("hostlocator_worker_http_in_flight", "gauge",
           "HEAD exchanges under way in the worker process.",
           [](const ReportedWorker& worker) { return worker.http_in_flight; });
  reported("hostlocator_worker_completed_total", "counter",
           "Probes the worker process finished since it started.",
           [](const ReportedWorker& worker) { return worker.completed; });
  w.Family("hostlocator_worker_errors_total", "counter",
           "Probes the worker process finished with an error, by class.");
  for (const auto& worker : in.broker.reported) {
    for (const auto& [error_class, n] : worker.errors_by_class) {
      w.Sample(
          "hostlocator_worker_errors_total",
          label(worker) + ",class=\"" + EscapeLabelValue(error_class) + "\"",
          n);
    }
  }
  reported(
      "hostlocator_worker_politeness_waits_total", "counter",
      "Requests of the worker process that waited for a politeness "
      "slot.",
      [](const ReportedWorker& worker) { return worker.politeness_waits; });
  reported("hostlocator_worker_politeness_wait_seconds_total", "counter",
           "Time the worker process's requests waited for politeness slots.",
           [](const ReportedWorker& worker) {
             return worker.politeness_wait_us / 1e6;
           });
  w.Family("hostlocator_worker_stage_duration_seconds", "histogram",
           "Per-stage durations of the worker process's probes: dns (the "
           "slowest A/AAAA question), http (the first HEAD), probe (job "
           "received to result).");
  for (const auto& worker : in.broker.reported) {
    for (const auto& [stage, histogram] : worker.stages) {
      w.HistogramSamples("hostlocator_worker_stage_duration_seconds",
                         label(worker) + ",stage=\"" + stage + "\"", histogram);
    }
  }
  reported("hostlocator_worker_resident_bytes", "gauge",
           "Resident memory of the worker process.",
           [](const ReportedWorker& worker) { return worker.resident_bytes; });
  reported("hostlocator_worker_threads", "gauge",
           "Threads of the worker process.",
           [](const ReportedWorker& worker) { return worker.threads; });
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
