// Tokens: role parsing, the file format, hashing, verification and the
// file-mode rules, from tables.
#include "coordinator/tokens.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/digest.h"

namespace hl::coordinator {
namespace {

TEST(TokensTest, ParsesRoles) {
  struct Case {
    std::string text;
    bool ok;
    RoleSet roles;
  } cases[] = {
      {"submit", true, RoleSet(Role::kSubmit)},
      {"submit,read", true, RoleSet(Role::kSubmit) | RoleSet(Role::kRead)},
      {"admin", true, RoleSet(Role::kAdmin)},
      {"read,export,read", true, RoleSet(Role::kRead) | RoleSet(Role::kExport)},
      {"", false, 0},
      {"submit,", false, 0},
      {"Submit", false, 0},
      {"root", false, 0},
  };
  for (const auto& c : cases) {
    auto roles = ParseRoles(c.text);
    EXPECT_EQ(roles.ok(), c.ok) << c.text;
    if (c.ok && roles.ok()) {
      EXPECT_EQ(*roles, c.roles) << c.text;
    }
  }
  EXPECT_EQ(RolesText(RoleSet(Role::kExport) | RoleSet(Role::kSubmit)),
            "submit,export");
}

TEST(TokensTest, AdminAllowsEverythingOthersOnlyTheirRole) {
  struct Case {
    std::string roles;
    Role need;
    bool allowed;
  } cases[] = {
      {"submit", Role::kSubmit, true},    {"submit", Role::kRead, false},
      {"read", Role::kExport, false},     {"export", Role::kExport, true},
      {"admin", Role::kExport, true},     {"admin", Role::kSubmit, true},
      {"submit,read", Role::kRead, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Allows(*ParseRoles(c.roles), c.need), c.allowed) << c.roles;
  }
}

TEST(TokensTest, ParsesTheFileAndNamesTheBadLine) {
  const std::string hash(64, 'a');
  struct Case {
    std::string text;
    std::string error;  // "" when the text is valid
  } cases[] = {
      {"# comment\n\nalice submit,read " + hash + " 1\n", ""},
      {"alice submit " + hash + " 1\nbob read " + hash + " 2\n", ""},
      {"alice submit " + hash + "\n", "line 1"},
      {"alice submit " + hash + " 1 extra\n", "line 1"},
      {"ok read " + hash + " 1\nbad/name read " + hash + " 1\n", "line 2"},
      {"alice nope " + hash + " 1\n", "unknown role"},
      {"alice read " + std::string(64, 'A') + " 1\n", "hex"},
      {"alice read abc 1\n", "hex"},
      {"a read " + hash + " 1\na read " + hash + " 1\n", "twice"},
  };
  for (const auto& c : cases) {
    auto table = TokenTable::Parse(c.text);
    if (c.error.empty()) {
      EXPECT_TRUE(table.ok()) << c.text << table.status().message();
    } else {
      ASSERT_FALSE(table.ok()) << c.text;
      EXPECT_NE(table.status().message().find(c.error), std::string::npos)
          << table.status().message();
    }
  }
}

TEST(TokensTest, StoresOnlyTheHashAndVerifiesTheSecret) {
  TokenTable table;
  auto alice = table.Add("alice", *ParseRoles("submit,read"), 5);
  auto bob = table.Add("bob", *ParseRoles("export"), 6);
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(alice->size(), 64u);
  EXPECT_NE(*alice, *bob);
  EXPECT_FALSE(table.Add("alice", RoleSet(Role::kRead), 7).ok());
  EXPECT_FALSE(table.Add("carol", 0, 7).ok());
  EXPECT_FALSE(table.Add("has space", RoleSet(Role::kRead), 7).ok());

  const std::string text = table.Serialize();
  EXPECT_EQ(text.find(*alice), std::string::npos);
  EXPECT_NE(text.find(Sha256Hex(*alice)), std::string::npos);

  auto reread = TokenTable::Parse(text);
  ASSERT_TRUE(reread.ok());
  ASSERT_TRUE(reread->Verify(*alice).has_value());
  EXPECT_EQ(reread->Verify(*alice)->name, "alice");
  EXPECT_EQ(reread->Verify(*bob)->name, "bob");
  EXPECT_FALSE(reread->Verify("").has_value());
  EXPECT_FALSE(reread->Verify(Sha256Hex(*alice)).has_value());
  std::string wrong = *alice;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  EXPECT_FALSE(reread->Verify(wrong).has_value());

  ASSERT_TRUE(reread->Revoke("alice").ok());
  EXPECT_FALSE(reread->Verify(*alice).has_value());
  EXPECT_FALSE(reread->Revoke("alice").ok());
}

TEST(TokensTest, FileIsWrittenPrivateAndAReadableOneIsRefused) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hl-tokens-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "tokens").string();
  auto missing = TokenTable::Load(path, /*missing_ok=*/true);
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->entries().empty());
  EXPECT_FALSE(TokenTable::Load(path, /*missing_ok=*/false).ok());

  TokenTable table;
  auto secret = table.Add("alice", RoleSet(Role::kRead), 1);
  ASSERT_TRUE(table.Save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = TokenTable::Load(path, false);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->Verify(*secret).has_value());

  for (mode_t mode : {0640, 0604, 0660, 0602}) {
    ::chmod(path.c_str(), mode);
    auto refused = TokenTable::Load(path, false);
    ASSERT_FALSE(refused.ok()) << mode;
    EXPECT_NE(refused.status().message().find("chmod 600"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hl::coordinator
