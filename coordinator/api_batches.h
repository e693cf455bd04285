// The bodies of the API endpoints the web UI reads batches through
// (docs/api.md): the session, the list of batches, the review table, one
// line in full, and re-checks. ApiServer authorises and routes; these
// answer with the body or a Status that maps to the HTTP error.
#pragma once

#include <cstdint>
#include <string>

#include "common/history.h"
#include "common/status.h"
#include "coordinator/api_request.h"
#include "coordinator/batch_table.h"
#include "coordinator/store.h"
#include "coordinator/tokens.h"

namespace hl::coordinator {

// GET /api/v1/session: {"token": name, "roles": [...]}.
std::string SessionJson(const TokenEntry& token);

// GET /api/v1/batches?limit=N&cursor=C.
Result<std::string> BatchListBody(const Store& store, const QueryParams& params,
                                  int64_t now_ms);

// GET /api/v1/batches/ID/rows.
Result<std::string> RowsBody(BatchTables& tables, uint64_t run_id,
                             const QueryParams& params, int64_t now_ms);

// POST /api/v1/batches/ID/recheck (line 0) and .../lines/N/recheck:
// {"queued": n, "skipped": m} counting jobs; *audit gets the audit detail.
Result<std::string> RecheckBody(Store& store, uint64_t run_id, uint64_t line,
                                int64_t now_ms, std::string* audit);

}  // namespace hl::coordinator
