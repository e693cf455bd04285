// Turning a submitted URL list into jobs: every input line goes through the
// URL normaliser and its request context through MakeRequestContext, and
// ends either as a job (new, or joined to the job already known for the same
// URL and context) or as a rejected line with its line number and reason.
// One code path for every way a list arrives (`hostlocator run`, the API,
// `hostlocator submit`), so the same line gets the same outcome everywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/input.h"
#include "coordinator/store.h"

namespace hl::coordinator {

// What a submitter says about a whole list.
struct BatchSpec {
  std::string source;          // input path, "-", or a name for an upload
  std::string submitter;       // API token name, or the OS user of the CLI
  std::string case_reference;  // the hotline's reference, may be ""
  std::string referer;         // for lines without their own referer
  std::string user_agent;      // for lines without their own user agent
  // Results older than this are probed again (0: probe every URL now);
  // negative: the configured default.
  int64_t max_result_age_ms = -1;
  std::string config_digest;
};

struct Rejection {
  uint64_t line = 0;
  std::string input;   // the URL field as given
  std::string reason;  // stable text, e.g. "unsupported scheme"
  std::string detail;
};

struct IngestSummary {
  pb::RunRecord run;  // as stored, ingest_complete set
  uint64_t new_jobs = 0;
  uint64_t reused_jobs = 0;
};

using RejectionSink = std::function<void(const Rejection&)>;

// Reads every line of `reader` into a new run, acknowledging durably: lines
// are committed in synced groups, and the run is marked complete only after
// the last group. `on_rejected` (may be empty) sees each rejected line as it
// is read. On an error the lines committed so far stay recorded and the run
// stays incomplete.
Result<IngestSummary> IngestBatch(Store& store, InputReader& reader,
                                  const BatchSpec& spec, int64_t now_ms,
                                  const RejectionSink& on_rejected);

// Checks every line as IngestBatch would, storing nothing. Returns the
// number of accepted lines.
Result<uint64_t> ValidateBatch(InputReader& reader, const BatchSpec& spec,
                               const RejectionSink& on_rejected);

}  // namespace hl::coordinator
