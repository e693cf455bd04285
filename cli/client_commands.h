// The API client commands (submit, status, results, history, takedown) and the
// formatters they print through, whichever source (--server or --data) the
// figures came from.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "common/status.h"

namespace hl::cli {

void AddClientCommands(CLI::App& app, int* exit_code);

// The text `status` prints for a GET /api/v1/batches/ID body.
std::string FormatBatchStatus(const nlohmann::ordered_json& status);
// The JSON Lines `results` prints for a GET /api/v1/results body.
std::string FormatResultsPage(const nlohmann::ordered_json& page);
// The text `history` prints for a GET /api/v1/history body: the checks,
// the events, the summary, fast flux and warnings.
std::string FormatHistory(const nlohmann::ordered_json& history);
// The table `takedown` prints for a GET /api/v1/reports/takedown body.
std::string FormatTakedown(const nlohmann::ordered_json& takedown);
// 4.2s, 12m 5s, 3h 20m, 2d 4h.
std::string FormatDuration(int64_t ms);

// Streams GET /api/v1/batches/ID/export to `out`. With `chain`, each
// line's chain value goes there (FILE.chain) and *manifest receives the
// coordinator's signed manifest, checked to sign exactly the bytes received.
Status ExportFromServer(const std::string& server,
                        const std::string& token_file, uint64_t batch,
                        const std::string& format, std::ostream& out,
                        std::ostream* chain = nullptr,
                        std::string* manifest = nullptr);

}  // namespace hl::cli
