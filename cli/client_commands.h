// The API client commands (submit, status, results) and the formatters they
// print through, whichever source (--server or --data) the figures came
// from.
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

// Streams GET /api/v1/batches/ID/export to `out`.
Status ExportFromServer(const std::string& server,
                        const std::string& token_file, uint64_t batch,
                        const std::string& format, std::ostream& out);

}  // namespace hl::cli
