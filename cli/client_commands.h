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

// Streams GET /api/v1/batches/ID/export to `out`. With `chain`, each
// line's chain value goes there (FILE.chain) and *manifest receives the
// coordinator's signed manifest, checked to sign exactly the bytes received.
Status ExportFromServer(const std::string& server,
                        const std::string& token_file, uint64_t batch,
                        const std::string& format, std::ostream& out,
                        std::ostream* chain = nullptr,
                        std::string* manifest = nullptr);

}  // namespace hl::cli
