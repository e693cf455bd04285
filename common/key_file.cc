#include "common/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hl {

Status WriteNewFile(const std::string& path, const std::string& text,
                    mode_t mode) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return Status(StatusCode::kAlreadyExists,
                    path + " exists; remove it or choose another --name");
    }
    return Unavailable("cannot create " + path + ": " + std::strerror(err));
  }
  const bool written = ::write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written) {
    return Unavailable("cannot write " + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Status CheckOwnerOnly(const std::string& path, std::string_view what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("cannot read the " + std::string(what) + " " + path + ": " +
                    std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return FailedPrecondition("the " + std::string(what) + " " + path +
                              " may be read by others; run chmod 600 " + path);
  }
  return Status::Ok();
}

Status WriteKeyPairFiles(const std::string& dir, const std::string& name,
                         const std::string& secret_text,
                         const std::string& public_text) {
  const bool valid_name =
      !name.empty() && name != "." && name != ".." &&
      std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
      });
  if (!valid_name) {
    return InvalidArgument("key name \"" + name +
                           "\" must be letters, digits, '.', '_' or '-'");
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return Unavailable("cannot create " + dir + ": " + ec.message());
    }
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  const fs::path key = fs::path(dir) / (name + ".key");
  const fs::path pub = fs::path(dir) / (name + ".pub");
  if (fs::exists(pub, ec)) {
    return Status(StatusCode::kAlreadyExists,
                  pub.string() + " exists; remove it or choose another --name");
  }
  HL_RETURN_IF_ERROR(WriteNewFile(key.string(), secret_text, 0600));
  if (Status s = WriteNewFile(pub.string(), public_text, 0644); !s.ok()) {
    fs::remove(key, ec);
    return s;
  }
  return Status::Ok();
}

}  // namespace hl
